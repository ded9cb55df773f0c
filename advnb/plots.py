"""The book's figures. Each function returns a matplotlib Figure."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

sns.set_theme(style="whitegrid", context="notebook")


def _img(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().reshape(28, 28).numpy()


def perturbation_panel(x: torch.Tensor, delta_star: torch.Tensor, delta_hat: torch.Tensor) -> tuple[plt.Figure, float]:
    """Fig. 1-style panel: per row a digit x, delta*, deltâ and (delta* - deltâ) magnified.

    x, delta_star, delta_hat: (k, 784) or (k, 1, 28, 28). The perturbation columns
    share one symmetric colour scale; the difference is multiplied by a power of
    ten (returned) so that it is visible on that scale.
    """
    k = len(x)
    diff = delta_star - delta_hat
    vmax = float(delta_star.abs().max())
    dmax = float(diff.abs().max())
    mag = 10.0 ** max(0, math.floor(math.log10(vmax / dmax))) if dmax > 0 else 1.0
    fig, axes = plt.subplots(k, 4, figsize=(8, 2.1 * k), squeeze=False)
    cols = [
        ("digit $x$", x, "gray_r", (0, 1)),
        (r"$\delta^*$ (attack)", delta_star, "RdBu_r", (-vmax, vmax)),
        (r"$\hat\delta$ (Theorem 2)", delta_hat, "RdBu_r", (-vmax, vmax)),
        (rf"$(\delta^*-\hat\delta)\times 10^{{{int(round(math.log10(mag)))}}}$", diff * mag, "RdBu_r", (-vmax, vmax)),
    ]
    for i in range(k):
        for j, (title, t, cmap, (lo, hi)) in enumerate(cols):
            ax = axes[i, j]
            im = ax.imshow(_img(t[i]), cmap=cmap, vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=axes[:, 1:].ravel().tolist(), shrink=0.8, label="perturbation (pixel intensity, [0, 1] scale)")
    return fig, mag


def _with_success_rate(ax: plt.Axes, df: pd.DataFrame, legend_loc: str) -> None:
    """Add the attack success rate (df columns beta, success_rate) on a right-hand axis, one legend."""
    ax2 = ax.twinx()
    ax2.plot(df["beta"], 100 * df["success_rate"], "^:", color="tab:red", label="attack success rate")
    ax2.set_ylabel("attack success rate (%)", color="tab:red")
    ax2.set_ylim(-5, 105)
    ax2.grid(False)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc=legend_loc, fontsize=8)


def kappa_vs_beta(df: pd.DataFrame, beta_marked: float | None = None) -> plt.Figure:
    """kappa against beta (log-log) with the attack success rate on a second axis.

    df columns: beta, kappa, success_rate; optional kappa_real (attack without A2).
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.loglog(df["beta"], df["kappa"], "o-", label=r"$\kappa$, frozen gating (A2)")
    if "kappa_real" in df:
        ax.loglog(df["beta"], df["kappa_real"], "s--", label=r"$\kappa$, real network (no A2)")
    if beta_marked is not None:
        ax.axvline(beta_marked, color="gray", ls=":", label=rf"chapter's $\beta$ = {beta_marked:g}")
    ax.set_xlabel(r"overall adversarial strength $\beta = m\alpha$")
    ax.set_ylabel(r"$\kappa = E\|\delta^*-\hat\delta\| \,/\, E\|\delta^*\|$")
    _with_success_rate(ax, df, legend_loc="upper left")
    fig.tight_layout()
    return fig


def energy_share(df: pd.DataFrame) -> plt.Figure:
    """Share of the perturbation's energy on v_1 against beta, with the success rate.

    df columns: beta, share_theory, share_attack, success_rate.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.semilogx(df["beta"], df["share_theory"], "o-", label=r"$\hat\delta$, Theorem 2 at the clean-input Hessian")
    ax.semilogx(df["beta"], df["share_attack"], "s--", label=r"$\delta^*$, the attack (frozen gating)")
    ax.set_xlabel(r"overall adversarial strength $\beta$")
    ax.set_ylabel(r"share of $\|\delta\|^2$ on $v_1$ of $H_x$ at $x$")
    _with_success_rate(ax, df, legend_loc="lower left")
    fig.tight_layout()
    return fig


def residual_vs_m(df: pd.DataFrame, floor: float, fit_from: int, slopes: dict[str, float]) -> plt.Figure:
    """Theorem 1's errors against the step count m (log-log), with fitted slopes.

    df columns: m, rho, euler, thm1_vs_thm2 (see ``experiments.residual_vs_m``); ``floor`` is
    drawn as a horizontal line; ``slopes`` maps a column to its fitted slope for the legend.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    style = {"euler": ("o-", r"$\delta^{(m)} - \delta^{(\infty)}$: the attack against its own limit"),
             "thm1_vs_thm2": ("s--", r"Theorem 1 $-$ Theorem 2 (same $\bar H_z$)"),
             "rho": ("^-", r"$\rho = \delta^{(m)} - $ Theorem 1 (the paper's residual)")}
    for col, (fmt, label) in style.items():
        extra = f", slope {slopes[col]:.2f}" if col in slopes else ""
        ax.loglog(df["m"], df[col], fmt, label=label + extra)
    ax.axhline(floor, color="gray", ls=":", label=r"floor $\|\delta^{(\infty)}-\hat\delta\|$ (constant $\bar H_z$)")
    ax.axvspan(df["m"].min() * 0.8, fit_from, color="0.92", zorder=0)
    ax.set_xlabel("attack steps m (β fixed, α = β/m)")
    ax.set_ylabel(r"error, $E\|\cdot\| \,/\, E\|\delta^{(m)}\|$")
    ax.legend(fontsize=7.5, loc="lower left")
    fig.tight_layout()
    return fig


def kappa_map(df: pd.DataFrame, threshold: float = 1e-3, column: str = "kappa", symbol: str = r"\kappa",
              title: str = "Theorem 2 against the attack") -> plt.Figure:
    """An error (``column``, default kappa) over beta for every network, and the attack success rate.

    df: ``experiments.kappa_map`` output (or any frame with network, beta, ``column``, success_rate).
    Points above ``threshold`` are where the theorem stops describing the attack at the precision of
    the paper's tables.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for name, g in df.groupby("network", sort=False):
        ax.loglog(g["beta"], g[column], "o-", ms=3, label=name)
        ax2.semilogx(g["beta"], 100 * g["success_rate"], "o-", ms=3, label=name)
    ax.axhline(threshold, color="k", ls=":", lw=1)
    ax.text(df["beta"].min(), threshold * 1.3, f"${symbol}$ = {threshold:g}", fontsize=8)
    ax.set_xlabel(r"overall adversarial strength $\beta$")
    ax.set_ylabel(f"${symbol}$ (frozen gating)")
    ax.set_title(title)
    ax2.set_xlabel(r"overall adversarial strength $\beta$")
    ax2.set_ylabel("attack success rate (%)")
    ax2.set_title("how often the attack succeeds")
    ax2.set_ylim(-5, 105)
    ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def measured_vs_predicted(df: pd.DataFrame, star: str, hat: str, quantity: str, title: str) -> plt.Figure:
    """Per-sample measured (``star``) against predicted (``hat``) values, one colour per ``network``.

    Left: |measured| against |predicted| on log axes with the line y = x (filled markers:
    negative values). Right: the relative error |measured - predicted| / |measured|.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, g in df.groupby("network", sort=False):
        neg = g[star] < 0
        line = ax.loglog(g.loc[neg, hat].abs(), g.loc[neg, star].abs(), "o", ms=4, label=name)[0]
        ax.loglog(g.loc[~neg, hat].abs(), g.loc[~neg, star].abs(), "o", ms=4, mfc="none", color=line.get_color())
        rel = (g[star] - g[hat]).abs() / g[star].abs()
        ax2.loglog(g[star].abs(), rel, "o", ms=3, color=line.get_color())
    lo = float(np.nanmin(df[[star, hat]].abs().replace(0, np.nan).to_numpy()))
    hi = float(np.nanmax(df[[star, hat]].abs().to_numpy()))
    ax.plot([lo, hi], [lo, hi], "k:", lw=1)
    ax.set_xlabel(f"|{quantity}|, predicted")
    ax.set_ylabel(f"|{quantity}|, measured")
    ax.set_title(title + " (filled: negative)")
    ax.legend(fontsize=7, ncol=2)
    ax2.set_xlabel(f"|{quantity}|, measured")
    ax2.set_ylabel("relative error per sample")
    ax2.set_title("how far each sample is from the prediction")
    fig.tight_layout()
    return fig


def adversarial_step_share(by_beta: pd.DataFrame) -> plt.Figure:
    """How often a training step shrinks the input gradient, over beta (Theorem 4, C4).

    by_beta: columns beta, frac_adv_negative, frac_ori_negative, success_rate, A_median.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.0), sharex=True)
    ax.semilogx(by_beta["beta"], 100 * by_beta["frac_adv_negative"], "o-", label="adversarial step")
    ax.semilogx(by_beta["beta"], 100 * by_beta["frac_ori_negative"], "s--", label="vanilla step")
    ax.semilogx(by_beta["beta"], 100 * by_beta["success_rate"], ":", color="gray", label="attack success")
    ax.set_xlabel(r"overall adversarial strength $\beta$")
    ax.set_ylabel("digits (%)")
    ax.set_title(r"share of digits whose step shrinks $\tilde g_x$")
    ax.set_ylim(-5, 105)
    ax.legend(fontsize=8)
    ax2.loglog(by_beta["beta"], by_beta["A_median"], "o-")
    ax2.set_xlabel(r"overall adversarial strength $\beta$")
    ax2.set_ylabel(r"median $\mathcal{A} = \beta \bar H_z \|\tilde g_x\|^2$")
    ax2.set_title("the exponent of Theorems 3 and 4")
    fig.tight_layout()
    return fig


# -- figures of the theorem6 chapter (Theorem 6, Fig. 5, oscillation in training) --


def taylor_remainder(scales, remainders: dict, slopes: dict) -> plt.Figure:
    """|R(s)| of second-order expansions against the step s (log-log), with a slope-3 guide.

    scales: (K,) steps s; remainders: {label: (K,) array}; slopes: {label: fitted slope}.
    """
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    t = np.asarray(scales, dtype=float)
    for (label, r), fmt in zip(remainders.items(), ("o-", "s--", "^:")):
        ax.loglog(t, np.asarray(r, dtype=float), fmt, label=f"{label}, slope {slopes[label]:.2f}")
    r0 = np.asarray(next(iter(remainders.values())), dtype=float)
    ax.loglog(t, r0[-1] * (t / t[-1]) ** 3, color="gray", lw=1, ls="-.", label=r"$\propto s^3$")
    ax.set_xlabel("step s (the hidden pre-activation h moves by s u, |u| = 1)")
    ax.set_ylabel("|remainder of the second-order expansion|")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def eq12_terms_vs_beta(df: pd.DataFrame) -> plt.Figure:
    """How far Eq. (12)'s ingredients are from the exact loss, against beta (medians over digits).

    df columns: beta, cross_share, hessian_shift, taylor_gap (one row per digit and beta).
    """
    med = df.groupby("beta")[["cross_share", "hessian_shift", "taylor_gap"]].median().reset_index()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.loglog(med["beta"], med["cross_share"], "o-", label=r"omitted linear term $\|\delta_i H_h\Delta h_{-i}\| / \|\delta_i g_h\|$")
    ax.loglog(med["beta"], med["hessian_shift"], "s--", label=r"$\|H_h(h+\Delta h)-H_h(h)\| / \|H_h(h)\|$")
    ax.loglog(med["beta"], med["taylor_gap"], "^:", label="second-order Taylor error / exact loss change")
    ax.axhline(1, color="gray", lw=1)
    ax.set_xlabel(r"adversarial strength $\beta$ of Theorem 2's $\hat\delta$")
    ax.set_ylabel("relative size (median over digits)")
    ax.legend(fontsize=7.5)
    fig.tight_layout()
    return fig


_TRAINING_COLOURS = {"vanilla": "tab:blue", "adversarial": "tab:orange"}
_TRAINED = {"vanilla": "vanilla-trained", "adversarial": "adversarially trained"}


def instability_layers(tables: dict, eta: float) -> plt.Figure:
    """Fig. 5: Delta^(ori) and Delta^(adv) per layer, one panel per network, log scale.

    tables: {(network label, training): instability table} with training "vanilla" or
    "adversarial" (how the network was trained); each table has columns index, layer, kind, ori, adv.
    """
    nets = list(dict.fromkeys(k[0] for k in tables))
    fig, axes = plt.subplots(1, len(nets), figsize=(5.6 * len(nets), 4.2), squeeze=False)
    for ax, net in zip(axes[0], nets):
        for (name, training), df in tables.items():
            if name != net:
                continue
            c = _TRAINING_COLOURS.get(training, None)
            ax.semilogy(df["index"], df["ori"], "o-", color=c, label=rf"$\Delta^{{(ori)}}$, {_TRAINED.get(training, training)}")
            ax.semilogy(df["index"], df["adv"], "s--", color=c, mfc="none", label=rf"$\Delta^{{(adv)}}$, {_TRAINED.get(training, training)}")
            ticks = df
        ax.set_xticks(ticks["index"])
        ax.set_xticklabels([f"{i}\n{k}" for i, k in zip(ticks["index"], ticks["kind"])], fontsize=7)
        ax.set_xlabel("layer (forward order)")
        ax.set_ylabel(r"instability $\Delta$ (per unit step, per unit width)")
        ax.set_title(f"{net}, one SGD step, η = {eta:g}", fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def instability_ratios(tables: dict) -> plt.Figure:
    """Delta^(adv) / Delta^(ori) per layer: at the chapter's eta (markers) and as eta -> 0 (lines).

    tables as :func:`instability_layers`, with columns ratio and gn_ratio.
    """
    nets = list(dict.fromkeys(k[0] for k in tables))
    fig, axes = plt.subplots(1, len(nets), figsize=(5.6 * len(nets), 3.8), squeeze=False)
    for ax, net in zip(axes[0], nets):
        for (name, training), df in tables.items():
            if name != net:
                continue
            c = _TRAINING_COLOURS.get(training, None)
            ax.semilogy(df["index"], df["ratio"], "o", color=c, label=f"{_TRAINED.get(training, training)}, at η")
            ax.semilogy(df["index"], df["gn_ratio"], "-", color=c, label=f"{_TRAINED.get(training, training)}, η → 0")
        ax.axhline(1, color="k", lw=1, ls=":")
        ax.set_xlabel("layer (forward order)")
        ax.set_ylabel(r"$\Delta^{(adv)} / \Delta^{(ori)}$")
        ax.set_title(net, fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def oscillation_training(records: dict, lr: float) -> plt.Figure:
    """Loss, top Hessian eigenvalue (with 2/lr) and the cosine between consecutive updates, per step.

    records: {label: table of ``advnb.oscillation.train_and_record``}.
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.9))
    for (label, df), c in zip(records.items(), ("tab:blue", "tab:orange", "tab:green")):
        axes[0].plot(df["step"], df["loss"], color=c, label=label)
        rec = df[df["lambda_max"].notna()]
        axes[1].plot(rec["step"], rec["lambda_max"], "o-", ms=3, color=c, label=label)
        axes[2].plot(df["step"], df["cos_prev"], color=c, lw=0.8, label=f"{label}: cos(update, previous update)")
        axes[2].plot(rec["step"], rec["cos_top"], "x", color=c, ms=5, label=f"{label}: |cos(update, top eigenvector)|")
    axes[1].axhline(2 / lr, color="k", ls="--", lw=1, label=f"2/η = {2 / lr:g}")
    axes[2].axhline(0, color="k", lw=0.8)
    axes[0].set_ylabel("training loss (on the examples trained on)")
    axes[1].set_ylabel(r"$\lambda_{max}$ of the loss Hessian (all parameters)")
    axes[2].set_ylabel("cosine")
    axes[2].set_ylim(-1.05, 1.05)
    for ax in axes:
        ax.set_xlabel("gradient descent step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- imbalance and theorem5 chapters

def c5_scatter(tables: dict, xs: dict, ys: dict, rho: dict) -> plt.Figure:
    """Fig. 3: per-sample effects against the sample's strength, log-log, one colour per network.

    tables: {network: DataFrame}; xs / ys: {column: axis label} (columns and rows of the grid);
    rho: {network: DataFrame of Spearman correlations, rows ys, columns xs}, written in each panel.
    """
    fig, axes = plt.subplots(len(ys), len(xs), figsize=(3.5 * len(xs), 3.0 * len(ys)), squeeze=False)
    colours = sns.color_palette("deep", len(tables))
    for i, (ycol, ylab) in enumerate(ys.items()):
        for j, (xcol, xlab) in enumerate(xs.items()):
            ax = axes[i, j]
            text = []
            for k, (name, df) in enumerate(tables.items()):
                ok = (df[xcol] > 0) & (df[ycol] > 0)
                ax.scatter(df.loc[ok, xcol], df.loc[ok, ycol], s=10, alpha=0.7, color=colours[k],
                           label=name if (i, j) == (0, 0) else None)
                text.append(f"{name}: ρ = {rho[name].loc[ycol, xcol]:+.2f}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.text(0.02, 0.98, "\n".join(text), transform=ax.transAxes, va="top", fontsize=7,
                    bbox=dict(boxstyle="round", fc="white", alpha=0.8, lw=0))
            if i == len(ys) - 1:
                ax.set_xlabel(xlab)
            if j == 0:
                ax.set_ylabel(ylab)
    fig.legend(loc="upper center", ncol=len(tables), fontsize=8, bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def c5_groups(groups: dict) -> plt.Figure:
    """Fig. 4: the mean cos(Δg_W|x, mean Δg_W) in each group of Â (groups by rank, 1 = smallest Â).

    groups: {network: DataFrame of :func:`advnb.imbalance.group_means`}.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, gm in groups.items():
        ax.plot(gm["group"], gm["mean"], "o-", label=name)
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xticks(range(1, int(max(gm["group"].max() for gm in groups.values())) + 1))
    ax.set_xlabel(r"group of samples by $\hat{\mathcal{A}}$ (1 = smallest tenth, 10 = largest)")
    ax.set_ylabel(r"mean $\cos(\Delta g_W|_x, \Delta\bar g_W)$ in the group")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def eq11_kappa(kp: pd.DataFrame) -> plt.Figure:
    """κ' of Eq. (11) against the length of the move, one line per network, one panel per way of moving.

    kp columns: network, mode ("common c" / "per-sample s"), f, kappa_prime.
    """
    modes = list(dict.fromkeys(kp["mode"]))
    fig, axes = plt.subplots(1, len(modes), figsize=(5.6 * len(modes), 4), sharey=True, squeeze=False)
    xlabel = {"common c": r"$c$ / mean $\|\hat\delta\|$  (one length $c$ for every sample)",
              "per-sample s": r"$s = c/\|\hat\delta\|$  (the same multiple of each sample's $\hat\delta$)"}
    for ax, mode in zip(axes[0], modes):
        for name, g in kp[kp["mode"] == mode].groupby("network", sort=False):
            ax.loglog(g["f"], g["kappa_prime"], "o-", ms=3, label=name)
        ax.axvline(1.0, color="gray", ls=":")
        ax.set_xlabel(xlabel.get(mode, mode))
        ax.set_title(mode, fontsize=10)
    axes[0, 0].set_ylabel(r"$\kappa' = E|\phi^*-\hat\phi|\,/\,E|\phi^*|$ of Eq. (11)")
    axes[0, -1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def c6_factor(df: pd.DataFrame) -> plt.Figure:
    """C6: H̄_z - g_z^2 and the factor (e^A - 1)/||deltâ|| against the margin yz, all networks pooled.

    df columns: network, yz, hz_bar, g_z, gx_norm, factor_c6, paper_factor (the paper's approximation
    ||g_x|| exp(beta ||g̃_x||^2 (H̄_z - g_z^2))).
    """
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    grid = np.linspace(0, max(float(df["yz"].max()), 1e-3) * 1.05, 200)
    sp, sn = 1 / (1 + np.exp(-grid)), 1 / (1 + np.exp(grid))
    for name, g in df.groupby("network", sort=False):
        axes[0].scatter(g["yz"], g["hz_bar"] - g["g_z"] ** 2, s=9, alpha=0.7, label=name)
        axes[1].scatter(g["yz"], g["factor_c6"] / g["gx_norm"], s=9, alpha=0.7)
        axes[2].scatter(g["yz"], g["paper_factor"] / g["factor_c6"], s=9, alpha=0.7)
    axes[0].plot(grid, sn * (sp - sn), "k--", lw=1, label=r"$H_z-g_z^2$ at $x$")
    axes[0].set_ylabel(r"$\bar H_z - g_z^2$")
    axes[1].plot(grid, sp, "k--", lw=1, label=r"$\sigma(yz)$")
    axes[1].set_ylabel(r"factor $(e^{\mathcal{A}}-1)/\|\hat\delta\|$ divided by $\|\tilde g_x\|$")
    axes[1].legend(fontsize=8)
    axes[2].set_yscale("log")
    axes[2].set_ylabel("paper's approximation / exact factor")
    for ax in axes:
        ax.set_xlabel(r"margin $yz$ at the clean input")
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def c7_shares(shares: pd.DataFrame, measures: dict, rules: dict) -> plt.Figure:
    """C7: the top-10% share of a per-sample influence under each training rule, per network.

    shares: one row per network (column network) with a column per (measure, rule) key as
    ``f"{measure}_{rule}"``; measures: {measure: panel title}; rules: {rule: bar label}.
    """
    fig, axes = plt.subplots(1, len(measures), figsize=(5.2 * len(measures), 4.2), squeeze=False)
    x = np.arange(len(shares))
    colour = dict(zip(rules, sns.color_palette("deep", len(rules))))
    for ax, (measure, title) in zip(axes[0], measures.items()):
        present = [r for r in rules if f"{measure}_{r}" in shares]
        w = 0.8 / len(present)
        for k, rule in enumerate(present):
            ax.bar(x + (k - (len(present) - 1) / 2) * w, shares[f"{measure}_{rule}"], w, color=colour[rule])
        ax.set_xticks(x)
        ax.set_xticklabels(shares["network"], rotation=45, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.axhline(0.1, color="gray", ls=":", lw=1)
    axes[0, 0].set_ylabel("share carried by the top 10% of samples")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[r]) for r in rules]
    fig.legend(handles, list(rules.values()), loc="upper center", ncol=len(rules), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig

import pytest

from advnb.base import ParameterError
from advnb.book.params import check, convert
from advnb.nets.profiles import get_profile, resolve_device, resolve_name


def test_profiles(monkeypatch):
    monkeypatch.setenv("ADVNB_PROFILE", "smoke")
    assert get_profile().name == "smoke"
    assert get_profile("quick").name == "quick"
    assert resolve_name("auto") in ("quick", "paper")
    with pytest.raises(ParameterError, match="profile"):
        get_profile("huge")
    assert str(resolve_device("cpu")) == "cpu"
    with pytest.raises(ParameterError, match="device"):
        resolve_device("tpu")


def test_quick_trains_the_costly_network_adversarially_on_fewer_digits():
    """quick: ResNet-50's adversarial training uses adv_large_n_train digits, every other network (and every
    vanilla training) its usual size; smoke and paper size every network alike."""
    from advnb.nets.data import as_binary, load_data
    from advnb.nets.train import binary_overrides, profile_config

    data = as_binary(load_data("mnist", "", False))
    quick = get_profile("quick")
    size = {(arch, adv): profile_config(arch, quick, 0, data, **binary_overrides(quick, adv)).n_train
            for arch in ("resnet50", "vgg11", "cnn-3") for adv in (True, False)}
    assert size[("resnet50", True)] == quick.adv_large_n_train < quick.adv_n_train == size[("vgg11", True)] == size[("cnn-3", True)]
    assert size[("resnet50", False)] == size[("vgg11", False)] == min(quick.n_train, len(data.y_train))
    for name in ("smoke", "paper"):
        prof = get_profile(name)
        assert len({profile_config(a, prof, 0, data, **binary_overrides(prof, True)).n_train for a in ("resnet50", "vgg11")}) == 1


@pytest.mark.parametrize("name,text,expected", [("beta", "0.5", 0.5), ("m", "20", 20), ("m", "none", None),
                                                 ("betas", "0.1,1", [0.1, 1.0]), ("seed", "3", 3)])
def test_convert(name, text, expected):
    assert convert(name, text) == expected


@pytest.mark.parametrize("values", [{"beta": -1.0}, {"beta": 0}, {"beta": float("inf")}, {"m": 0}, {"seed": -2},
                                    {"seed": True}, {"profile": "huge"}, {"betas": [0.1, -1.0]}, {"betas": []},
                                    {"n_eval": 1.5}, {"device": "tpu"}])
def test_check_rejects_with_one_line(values):
    with pytest.raises(ParameterError) as e:
        check(values)
    assert str(e.value).startswith(f"parameter {next(iter(values))}:") and "\n" not in str(e.value)


def test_check_accepts_good_values():
    good = {"beta": 1, "m": None, "seed": 0, "profile": "smoke", "betas": [0.1], "device": "cpu"}
    assert check(good) == good


def test_every_parameter_has_a_rule_and_every_rule_a_parameter():
    """Parameters are defined once, in the notebooks' parameters cells; params.RULES holds only rules."""
    from advnb.base import available_chapters
    from advnb.book.params import RULES, parameter_names

    names = {n for path in available_chapters().values() for n in parameter_names(path)}
    assert not names - set(RULES), f"parameters without a rule: {sorted(names - set(RULES))}"
    assert not set(RULES) - names, f"rules without a parameter: {sorted(set(RULES) - names)}"


def test_check_chapter_reads_the_names_from_the_parameters_cell():
    from advnb.base import available_chapters
    from advnb.book.params import check_chapter, parameter_names
    from advnb.book.record import default_parameters

    path = available_chapters()["theorem2"]
    values = default_parameters(path)
    namespace = {**values, "np": object(), "unrelated": 1}  # the kernel's globals hold more than the parameters
    assert list(check_chapter("theorem2", namespace)) == parameter_names(path)
    with pytest.raises(ParameterError, match="parameter beta"):
        check_chapter("theorem2", {**values, "beta": -1.0})
    with pytest.raises(ParameterError, match="chapter 'nope'"):
        check_chapter("nope", namespace)

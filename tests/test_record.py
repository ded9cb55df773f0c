import json

import numpy as np
import pandas as pd
import torch

from advnb.record import JSON_MIME, glued_values, jsonable


def test_jsonable():
    df = pd.DataFrame({"beta": np.array([0.1, 1.0]), "k": np.array([1, 2])})
    assert jsonable(df) == [{"beta": 0.1, "k": 1}, {"beta": 1.0, "k": 2}]
    assert jsonable(np.float64(0.5)) == 0.5 and jsonable(torch.tensor(3)) == 3
    assert jsonable({"a": (np.int64(1), "s")}) == {"a": [1, "s"]}
    assert jsonable(float("nan")) == "nan"
    json.dumps(jsonable(df))


def test_glued_values_reads_outputs():
    nb = {"cells": [
        {"cell_type": "markdown", "source": "x"},
        {"cell_type": "code", "outputs": [
            {"output_type": "display_data", "metadata": {"scrapbook": {"name": "kappa"}},
             "data": {JSON_MIME: {"value": 1e-5}, "application/papermill.record/text/plain": "1e-05"}},
            {"output_type": "stream", "text": "hello"},
        ]},
    ]}
    assert glued_values(nb) == {"kappa": 1e-5}

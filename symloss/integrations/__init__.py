"""symloss where people train: gradient-boosting objectives (LightGBM, XGBoost), autograd
functions (PyTorch, JAX) and chunked evaluation over Dask arrays.

Each submodule imports its library on import and is an optional extra
(``pip install "symloss[lightgbm]"``, ``[xgboost]``, ``[torch]``, ``[jax]``, ``[dask]``);
``import symloss`` imports none of them.
"""

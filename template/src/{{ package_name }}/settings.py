"""Project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html

Owned by the template (`copier update` merges its changes with yours).
"""

from pathlib import Path

from kedro.config import OmegaConfigLoader

try:
    from kedro_mlflow_runtime import MlflowHook
except ModuleNotFoundError as error:
    # say which runtime the project expects, and how to get it
    if error.name != "kedro_mlflow_runtime":
        raise
    _pins = Path(__file__).resolve().parents[2] / "requirements" / "template.txt"
    _lines = _pins.read_text().splitlines() if _pins.is_file() else []
    _pin = next(
        (line for line in _lines if line.startswith("kedro-mlflow-runtime")), ""
    )
    raise ModuleNotFoundError(
        f"kedro-mlflow-runtime is not installed in this environment; {_pins} pins `{_pin}`. "
        'Install it from the project folder with: pip install -e ".[dev]"'
    ) from error

# MlflowHook tracks every `kedro run` in MLflow, as configured in conf/*/mlflow.yml.
# Registered here explicitly (the runtime has no auto-registered hook), so removing this
# line turns tracking off. Hooks run last-in-first-out.
HOOKS = (MlflowHook(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
    # conf/local/mlflow.yml may override a single key without wiping its section.
    "merge_strategy": {"mlflow": "soft"},
}

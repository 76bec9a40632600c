"""Project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html

Owned by the template (`copier update` merges its changes with yours).
"""

from kedro.config import OmegaConfigLoader
from kedro_mlflow_runtime import MlflowHook

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

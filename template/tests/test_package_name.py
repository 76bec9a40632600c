"""src/ holds one Kedro package, the one pyproject.toml's [tool.kedro] package_name names.

Copying kedro-mlflow-starter over an existing Kedro project with another package_name than the
project's package puts the template's settings.py in a second package, which Kedro then loads
instead of yours: this fails until the names agree. Owned by the template.
"""

from pathlib import Path

from kedro.framework.startup import bootstrap_project

PROJECT_PATH = Path(__file__).resolve().parents[1]


def test_src_holds_the_kedro_package_pyproject_names():
    package_name = bootstrap_project(PROJECT_PATH).package_name
    # a Kedro package: the one folder of src/ with settings.py
    packages = sorted(
        path.parent.name for path in PROJECT_PATH.glob("src/*/settings.py")
    )
    others = [name for name in packages if name != package_name]
    assert not others, (
        f"pyproject.toml's package_name is '{package_name}' but the project's package is "
        f"'{others[0]}' (src/{others[0]}/): the template was copied with the wrong "
        f"package_name. Delete src/{package_name}/ and copy it again with "
        f"--data package_name={others[0]}."
    )
    assert packages == [package_name], f"src/{package_name}/settings.py is missing"

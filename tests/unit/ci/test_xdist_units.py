"""How the host tier's tests are handed out to pytest-xdist processes (tests/conftest.py)."""

from tests.conftest import unit_of_work


def test_deploy_scenarios_are_units_of_their_own_and_other_modules_stay_together():
    assert unit_of_work("tests/deploy/test_deploy.py::test_x") == "tests/deploy/test_deploy.py::test_x"
    assert unit_of_work("tests/toolkit/test_proxy_switch.py::test_y[a]") == "tests/toolkit/test_proxy_switch.py"
    assert unit_of_work("tests/toolkit/test_jenkinsfile.py::test_z") == unit_of_work(
        "tests/toolkit/test_jenkinsfile_semantics.py::test_w") == "jenkinsfile"

"""`serve --ingress`: the environment HAProxy needs is set before Ray starts, or refused clearly."""

from __future__ import annotations

import os

import pytest

from jobs.service.ingress import HAPROXY_FLAG, check_haproxy, prepare_ingress
from storage.errors import ConfigError, UserError

SET_BY_HAPROXY = (HAPROXY_FLAG, "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S",
                  "RAY_SERVE_HAPROXY_STATS_PORT", "RAY_SERVE_HAPROXY_METRICS_PORT")


@pytest.fixture
def clean_environment(monkeypatch):
    for name in SET_BY_HAPROXY:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_haproxy_sets_the_flag_a_short_drain_and_two_distinct_free_ports(clean_environment):
    prepare_ingress("haproxy")
    assert os.environ[HAPROXY_FLAG] == "1"
    assert os.environ["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] == "1"
    ports = {int(os.environ[n]) for n in SET_BY_HAPROXY[2:]}
    assert len(ports) == 2 and not ports & {8404, 9101}


def test_the_python_ingress_sets_nothing_and_a_users_setting_wins(clean_environment):
    prepare_ingress("python")
    assert not any(name in os.environ for name in SET_BY_HAPROXY)
    clean_environment.setenv("RAY_SERVE_HAPROXY_STATS_PORT", "18404")
    prepare_ingress("haproxy")
    assert os.environ["RAY_SERVE_HAPROXY_STATS_PORT"] == "18404"


def test_an_unknown_ingress_and_a_cluster_without_haproxy_are_user_errors(clean_environment):
    with pytest.raises(ConfigError, match="--ingress must be one of python, haproxy"):
        prepare_ingress("nginx")
    check_haproxy(True)
    with pytest.raises(UserError, match=f"started without {HAPROXY_FLAG}=1.*--ingress python"):
        check_haproxy(False)

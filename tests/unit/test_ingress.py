"""`serve --ingress`: the environment HAProxy needs is set before Ray starts, or refused clearly."""

from __future__ import annotations

import os
import socket

import pytest

import jobs.service.ingress as ingress
from jobs.service.ingress import (
    HAPROXY_FLAG,
    bindable,
    check_haproxy,
    ephemeral_ports,
    free_ports,
    prepare_ingress,
)
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


def test_picked_ports_are_free_distinct_and_never_ones_the_kernel_hands_out():
    ports = free_ports(20)
    assert len(set(ports)) == 20
    # Outside the range every port-0 bind and outgoing connection draws from, and above Ray's
    # worker ports: no other process can be handed one before its user binds it.
    assert all(p >= 20000 and p not in ephemeral_ports() and bindable(p) for p in ports)


def test_a_port_someone_listens_on_is_not_bindable():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        assert not bindable(held.getsockname()[1])


def test_where_the_kernel_hands_out_every_port_it_picks_them(monkeypatch):
    monkeypatch.setattr(ingress, "ephemeral_ports", lambda: range(1024, 65536))
    ports = free_ports(3)
    assert len(set(ports)) == 3 and all(bindable(p) for p in ports)

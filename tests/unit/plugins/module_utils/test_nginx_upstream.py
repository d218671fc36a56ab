# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Validation, rendering and metadata round trip of the managed nginx upstream file."""

from __future__ import annotations

import json

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import spec as up

POOLS = {"blue": ["10.0.0.11:8080", "10.0.0.12:8080"], "green": ["10.0.1.11:8080", "10.0.1.12:8080"]}


def params(**overrides):
    base = {"name": "shop", "pools": POOLS, "active": "green", "weights": None, "preview": False,
            "preview_colour": None, "keepalive": 0, "balance": "round_robin", "hash_key": None,
            "idle_backup": False, "server_options": None}
    base.update(overrides)
    return base


def spec(**overrides):
    return up.build_spec(params(**overrides))


# --- validation -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["shop-1", "shop app", "shop;", "", "a" * 65, "shop\n", "sh{op", "shöp"])
def test_bad_upstream_names_are_rejected(name):
    with pytest.raises(up.UpstreamError, match="name="):
        spec(name=name)


@pytest.mark.parametrize("colour", ["blue-1", "bl ue", "gr$een", "x;y"])
def test_bad_colour_names_are_rejected(colour):
    pools = {"blue": ["10.0.0.1:80"], colour: ["10.0.0.2:80"]}
    with pytest.raises(up.UpstreamError, match="pools colour"):
        spec(pools=pools, active="blue")


@pytest.mark.parametrize("server", [
    "10.0.0.1:80; server evil:80", "10.0.0.1:80 backup", "10.0.0.1:80}", "{10.0.0.1:80", "'10.0.0.1:80'",
    '"10.0.0.1:80"', "$host:80", "10.0.0.1:80\n", "10.0.0.1:80\tx", "10.0.0.1:80#", "a\\b:80", "hôst:80",
])
def test_server_strings_that_could_inject_syntax_are_rejected(server):
    with pytest.raises(up.UpstreamError, match="not allowed in an address"):
        spec(pools={"blue": [server], "green": ["10.0.1.1:80"]}, active="green")


@pytest.mark.parametrize(("server", "message"), [
    ("10.0.0.1", "needs a port"),
    ("10.0.0.1:0", "1-65535"),
    ("10.0.0.1:65536", "1-65535"),
    ("10.0.0.1:http", "not a number"),
    ("-bad-.example:80", "not a host name"),
    ("[::1]", "IPv6"),
    ("[zz::1]:80", "IPv6"),
    ("unix:relative.sock", "unix:/absolute/path"),
    ("unix:", "unix:/absolute/path"),
    ("[::1]:80x", "IPv6"),
    (":80", "needs a port"),
])
def test_malformed_servers_are_rejected(server, message):
    with pytest.raises(up.UpstreamError, match=message):
        spec(pools={"blue": [server], "green": ["10.0.1.1:80"]}, active="green")


@pytest.mark.parametrize("server", ["10.0.0.1:80", "app-1.internal.example:8080", "[::1]:8080",
                                    "[fd00::11]:80", "unix:/run/shop/blue.sock", "localhost:1"])
def test_good_servers_are_accepted(server):
    assert spec(pools={"blue": [server], "green": ["10.0.1.1:80"]}, active="blue")["pools"]["blue"] == [server]


def test_fewer_than_two_pools_is_rejected():
    with pytest.raises(up.UpstreamError, match="at least two colours"):
        spec(pools={"blue": ["10.0.0.1:80"]}, active="blue")


def test_empty_pool_is_rejected():
    with pytest.raises(up.UpstreamError, match="non-empty list"):
        spec(pools={"blue": [], "green": ["10.0.0.1:80"]})


def test_server_in_two_colours_is_rejected():
    with pytest.raises(up.UpstreamError, match="each server belongs to one colour"):
        spec(pools={"blue": ["10.0.0.1:80"], "green": ["10.0.0.1:80"]})


def test_active_must_be_a_pool():
    with pytest.raises(up.UpstreamError, match=r"active='red' is not a colour in pools \(blue, green\)"):
        spec(active="red")


def test_active_and_weights_together_are_rejected():
    with pytest.raises(up.UpstreamError, match="mutually exclusive"):
        spec(active="blue", weights={"blue": 50, "green": 50})


def test_neither_active_nor_weights_is_rejected():
    with pytest.raises(up.UpstreamError, match="either active"):
        spec(active=None)


@pytest.mark.parametrize(("weights", "message"), [
    ({"blue": 0, "green": 0}, "all 0"),
    ({"blue": -1, "green": 10}, "0 to 1000"),
    ({"blue": 1001, "green": 10}, "0 to 1000"),
    ({"blue": 1.5, "green": 10}, "0 to 1000"),
    ({"blue": True, "green": 10}, "0 to 1000"),
    ({"blue": "ten", "green": 10}, "0 to 1000"),
    ({"red": 10}, "not a colour in pools"),
])
def test_bad_weights_are_rejected(weights, message):
    with pytest.raises(up.UpstreamError, match=message):
        spec(active=None, weights=weights)


def test_missing_weights_default_to_zero_and_digit_strings_are_integers():
    assert spec(active=None, weights={"blue": "90"})["weights"] == {"blue": 90, "green": 0}


@pytest.mark.parametrize(("options", "message"), [
    ({"weight": 3}, "managed by the module"),
    ({"backup": True}, "idle_backup"),
    ({"slow_start": "10s"}, "not a known server parameter"),
    ({"max_fails": -1}, "integer >= 0"),
    ({"max_fails": "3; evil"}, "integer >= 0"),
    ({"max_conns": 1.5}, "integer >= 0"),
    ({"fail_timeout": "10 s"}, "duration"),
    ({"fail_timeout": "10s;"}, "duration"),
    ({"fail_timeout": "ten"}, "duration"),
    ({"fail_timeout": "10s\n"}, "duration"),
])
def test_bad_server_options_are_rejected(options, message):
    with pytest.raises(up.UpstreamError, match=message):
        spec(server_options=options)


def test_balance_combinations():
    with pytest.raises(up.UpstreamError, match="needs hash_key"):
        spec(balance="hash")
    with pytest.raises(up.UpstreamError, match="needs hash_key"):
        spec(balance="hash", hash_key="$remote_addr;")
    with pytest.raises(up.UpstreamError, match="needs hash_key"):
        spec(balance="hash", hash_key="$remote_addr\n")
    with pytest.raises(up.UpstreamError, match="only used with balance=hash"):
        spec(hash_key="$remote_addr")
    with pytest.raises(up.UpstreamError, match="use one of"):
        spec(balance="fastest")
    for method in ("ip_hash", "random"):
        with pytest.raises(up.UpstreamError, match="does not allow backup"):
            spec(balance=method, idle_backup=True)
    with pytest.raises(up.UpstreamError, match="does not allow backup"):
        spec(balance="hash", hash_key="$remote_addr", idle_backup=True)
    assert spec(balance="least_conn", idle_backup=True)["idle_backup"] is True


def test_keepalive_must_be_non_negative():
    with pytest.raises(up.UpstreamError, match="keepalive"):
        spec(keepalive=-1)


def test_preview_colour_rules():
    assert spec(preview=True)["preview_colour"] == "blue"
    assert spec(active=None, weights={"blue": 90, "green": 10}, preview=True)["preview_colour"] == "green"
    with pytest.raises(up.UpstreamError, match="no single lowest-weight colour"):
        spec(active=None, weights={"blue": 50, "green": 50}, preview=True)
    three = dict(POOLS, red=["10.0.2.1:80"])
    with pytest.raises(up.UpstreamError, match="2 idle colours"):
        spec(pools=three, preview=True)
    assert spec(pools=three, preview=True, preview_colour="red")["preview_colour"] == "red"
    with pytest.raises(up.UpstreamError, match="is the active colour"):
        spec(preview=True, preview_colour="green")
    with pytest.raises(up.UpstreamError, match="only used with preview=true"):
        spec(preview_colour="blue")
    with pytest.raises(up.UpstreamError, match="not a colour in pools"):
        spec(preview=True, preview_colour="red")
    assert spec(preview=False)["preview_colour"] is None


# --- rendering --------------------------------------------------------------------------

def test_render_active_with_preview_and_keepalive():
    body = up.render_body(spec(preview=True, keepalive=32))
    assert body == (
        "upstream shop {\n"
        "    server 10.0.1.11:8080;\n"
        "    server 10.0.1.12:8080;\n"
        "    keepalive 32;\n"
        "}\n"
        "\n"
        "upstream shop_preview {\n"
        "    server 10.0.0.11:8080;\n"
        "    server 10.0.0.12:8080;\n"
        "    keepalive 32;\n"
        "}\n"
    )


def test_render_idle_backup_balance_and_server_options():
    body = up.render_body(spec(active="blue", idle_backup=True, balance="least_conn", keepalive=8,
                               server_options={"max_fails": 3, "fail_timeout": "10s", "max_conns": 100}))
    assert body == (
        "upstream shop {\n"
        "    least_conn;\n"
        "    server 10.0.0.11:8080 max_fails=3 fail_timeout=10s max_conns=100;\n"
        "    server 10.0.0.12:8080 max_fails=3 fail_timeout=10s max_conns=100;\n"
        "    server 10.0.1.11:8080 max_fails=3 fail_timeout=10s max_conns=100 backup;\n"
        "    server 10.0.1.12:8080 max_fails=3 fail_timeout=10s max_conns=100 backup;\n"
        "    keepalive 8;\n"
        "}\n"
    )


def test_render_hash_comes_before_keepalive():
    body = up.render_body(spec(balance="hash", hash_key="$cookie_session", keepalive=4))
    assert body.index("hash $cookie_session;") < body.index("server ") < body.index("keepalive 4;")


def test_weights_are_shares_per_colour_not_per_server():
    pools = {"blue": ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"], "green": ["10.0.1.1:80"]}
    rows = up.live_servers(spec(pools=pools, active=None, weights={"blue": 90, "green": 10}))
    totals = {}
    for server, weight, backup in rows:
        colour = "blue" if server.startswith("10.0.0.") else "green"
        totals[colour] = totals.get(colour, 0) + weight
        assert backup is False
    assert totals["blue"] * 10 == totals["green"] * 90
    assert len(rows) == 4


def test_zero_weight_colour_is_left_out_or_backup():
    weights = {"blue": 100, "green": 0}
    assert "10.0.1.11" not in up.render_body(spec(active=None, weights=weights))
    body = up.render_body(spec(active=None, weights=weights, idle_backup=True))
    assert "server 10.0.1.11:8080 backup;" in body
    assert "server 10.0.0.11:8080 weight=100;" in body


def test_weight_one_is_not_written():
    body = up.render_body(spec(pools={"blue": ["10.0.0.1:80"], "green": ["10.0.1.1:80"]},
                               active=None, weights={"blue": 1, "green": 3}))
    assert "server 10.0.0.1:80;" in body
    assert "server 10.0.1.1:80 weight=3;" in body


# --- metadata -----------------------------------------------------------------------------

def test_metadata_round_trip_and_describe():
    desired = spec(preview=True, keepalive=32)
    metadata = up.next_metadata(desired, None, "2026-01-01T00:00:00Z")
    text = up.render_file(desired, metadata)
    assert sum(1 for line in text.splitlines() if line.startswith(up.METADATA_PREFIX)) == 1
    parsed, body = up.split_file(text)
    assert parsed == json.loads(json.dumps(metadata))
    assert body == up.render_body(desired)
    info = up.describe(text, "/x.conf")
    assert info["active"] == "green"
    assert info["preview"] == "blue"
    assert info["preview_upstream"] == "shop_preview"
    assert info["pools"] == POOLS
    assert info["switched_at"] == "2026-01-01T00:00:00Z"
    assert info["previous_active"] is None
    assert info["module_version"] == up.MODULE_VERSION
    assert info["consistent"] is True
    assert up.same_state(desired, text)


def test_hand_edited_body_is_inconsistent_and_not_same_state():
    desired = spec()
    text = up.render_file(desired, up.next_metadata(desired, None, "t0"))
    metadata_part, body = text.split("upstream shop {", 1)
    edited = metadata_part + "upstream shop {" + body.replace("10.0.1.12:8080", "10.0.9.9:8080")
    assert up.describe(edited, "/x.conf")["consistent"] is False
    assert not up.same_state(desired, edited)


def test_switch_moves_previous_and_switched_at_only_when_traffic_changes():
    blue = spec(active="blue")
    first = up.next_metadata(blue, None, "t0")
    assert (first["previous_active"], first["switched_at"]) == (None, "t0")
    green = spec(active="green")
    second = up.next_metadata(green, first, "t1")
    assert (second["active"], second["previous_active"], second["switched_at"]) == ("green", "blue", "t1")
    # A change that keeps the traffic selection (keepalive) keeps the record of the last switch.
    third = up.next_metadata(spec(active="green", keepalive=16), second, "t2")
    assert (third["previous_active"], third["switched_at"], third["updated_at"]) == ("blue", "t1", "t2")
    split = up.next_metadata(spec(active=None, weights={"blue": 10, "green": 90}), third, "t3")
    assert split["previous_active"] == "green"
    assert split["previous_weights"] is None
    assert split["weights"] == {"blue": 10, "green": 90}
    back = up.next_metadata(spec(active="blue"), split, "t4")
    assert back["previous_weights"] == {"blue": 10, "green": 90}


def test_same_state_is_false_for_any_setting_change():
    desired = spec(preview=True)
    text = up.render_file(desired, up.next_metadata(desired, None, "t0"))
    assert up.same_state(desired, text)
    for change in ({"active": "blue"}, {"keepalive": 2}, {"preview": False}, {"idle_backup": True},
                   {"server_options": {"max_fails": 1}}, {"balance": "least_conn"}):
        assert not up.same_state(spec(**dict({"preview": True}, **change)), text), change
    assert not up.same_state(desired, None)
    assert not up.same_state(desired, "upstream shop { server 1.2.3.4:80; }\n")


def test_unmanaged_or_broken_metadata_is_not_managed():
    assert up.describe("upstream x { server 1.1.1.1:80; }\n", "/x.conf") is None
    assert not up.is_managed(up.METADATA_PREFIX + "{not json\n")
    assert not up.is_managed(up.METADATA_PREFIX + "[1, 2]\n")
    # The metadata line only counts in the leading comment block.
    assert not up.is_managed("upstream x {}\n" + up.METADATA_PREFIX + "{}\n")


def test_default_path_and_preview_name():
    assert up.default_path("shop") == "/etc/nginx/conf.d/bluegreen_shop.conf"
    assert up.default_path("shop", "/tmp/c") == "/tmp/c/bluegreen_shop.conf"
    assert up.preview_name("shop") == "shop_preview"

# -*- coding: utf-8 -*-
# Copyright: Switchyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The nginx -T reader: tokenizer, include walk, pid, upstream definitions, block removal, include globs."""

from __future__ import annotations

import pytest

from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx import config as cfg
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.process import pid_path_from_dump
from ansible_collections.switchyard.bluegreen.plugins.module_utils._nginx.switch import remove_blocks


def dump_of(files):
    return "".join(f"# configuration file {path}:\n{text}\n" for path, text in files.items())


MAIN = """\
user www-data;
# pid /commented/out.pid;
http {
    log_format main '$remote_addr # not a comment' "x;{y}";
    map $uri $x { ~^/a#b 1; default 0; }
    server { location ~ "^/(a|b)#frag$" { return 200 "pid /wrong.pid;"; } }
    include /etc/nginx/conf.d/*.conf;
    include sites-enabled/*;
}
stream { include /etc/nginx/stream.d/*.conf; }
pid /run/real.pid;
"""


def layout():
    return dump_of({
        "/etc/nginx/nginx.conf": MAIN,
        "/etc/nginx/conf.d/a.conf": "upstream app { server 127.0.0.1:1; }\n",
        "/etc/nginx/sites-enabled/site": (
            "# site\nupstream  app\n{\n  server 127.0.0.1:2; # x\n}\nserver { set $v \"${uri}x\"; }\n"
        ),
        "/etc/nginx/stream.d/tcp.conf": "upstream db { server 127.0.0.1:3; }\n",
    })


def test_hash_inside_quotes_and_regex_does_not_hide_the_pid():
    assert pid_path_from_dump(layout()) == "/run/real.pid"
    # A pid inside a block or a string does not count.
    assert pid_path_from_dump(dump_of({"/n.conf": 'http { return 200 "x"; }\nevents { }\n'})) is None


def test_includes_are_followed_with_their_context():
    config = cfg.Config(layout())
    found = config.upstreams("app")
    assert [(d.path, d.line, d.context) for d in found] == [
        ("/etc/nginx/conf.d/a.conf", 1, ("http",)),
        ("/etc/nginx/sites-enabled/site", 2, ("http",)),
    ]
    assert config.context_of("/etc/nginx/stream.d/tcp.conf") == "stream"
    assert config.context_of("/etc/nginx/sites-enabled/bluegreen_app.conf") == "http"
    assert config.context_of("/etc/nginx/elsewhere/x.conf") is None
    assert config.upstreams("db")[0].context == ("stream",)


def test_tokens_keep_quotes_variables_and_regexes_whole():
    tokens = [token for token, *_rest in cfg.tokenize(MAIN)]
    assert "$remote_addr # not a comment" in tokens and "x;{y}" in tokens
    assert "~^/a#b" in tokens and "^/(a|b)#frag$" in tokens
    assert "/commented/out.pid" not in tokens
    word = [token for token, *_rest in cfg.tokenize('set $v ${uri}x;')]
    assert word == ["set", "$v", "${uri}x", ";"]


def test_unbalanced_text_is_a_syntax_error():
    with pytest.raises(cfg.ConfigSyntaxError):
        cfg.parse("http {\n", "/x")
    with pytest.raises(cfg.ConfigSyntaxError):
        cfg.parse('return 200 "open;\n', "/x")


def test_remove_blocks_keeps_every_other_byte():
    text = "# site\nupstream  app\n{\n  server 127.0.0.1:2; # x\n}\nserver { proxy_pass http://app; }\n"
    new_text, blocks = remove_blocks(text, "/s", ["app"], ("http",))
    assert blocks == [("app", 2)]
    assert new_text == (
        "# site\n# upstream app: adopted by switchyard.bluegreen.nginx_upstream\nserver { proxy_pass http://app; }\n"
    )
    # Nothing to remove: the same text.
    assert remove_blocks(new_text, "/s", ["app"]) == (new_text, [])


@pytest.mark.parametrize(("pattern", "path", "loaded"), [
    ("/etc/nginx/sites-enabled/*", "/etc/nginx/sites-enabled/bluegreen_a.conf.previous", True),
    ("/etc/nginx/sites-enabled/*", "/etc/nginx/sites-enabled/.bluegreen_a.conf.x.tmp", False),
    ("/etc/nginx/conf.d/*.conf", "/etc/nginx/conf.d/bluegreen_a.conf.previous", False),
    ("/etc/nginx/conf.d/.*", "/etc/nginx/conf.d/.bluegreen_a.conf.lock", True),
    ("/etc/nginx/*/*.conf", "/etc/nginx/conf.d/a.conf", True),
    ("/etc/nginx/*", "/etc/nginx/conf.d/a.conf", False),
])
def test_glob_matches_like_glob3(pattern, path, loaded):
    assert cfg.glob_matches(pattern, path) is loaded

"""engine/secrets.py is the one place that seals, opens, masks and redacts; its rules, with
literals (the stores are exercised by test_secrets_at_rest.py and test_derived_secrets.py)."""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path

from engine import secrets
from engine.store.crypto import Keyring

ROOT = Path(__file__).resolve().parents[3]
# Sealing, opening and the mask, spelled anywhere but the two modules allowed to.
FORBIDDEN = re.compile(
    r"keyring\.(encrypt|decrypt|seal_json|open_json)\b|\bseal_json\(|\bopen_json\("
    r"|[\"']\*{6}[\"']|\bis_encrypted\b|\bENCRYPTED\b"
)
ALLOWED = {"engine/secrets.py", "engine/store/crypto.py"}


def test_no_module_but_engine_secrets_seals_opens_or_spells_the_mask():
    offenders = []
    for package in ("engine", "metadata_server", "agent"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name in ALLOWED:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if FORBIDDEN.search(line):
                    offenders.append(f"{name}:{number}: {line.strip()}")
    assert not offenders, "sealing or masking outside engine/secrets.py:\n" + "\n".join(offenders)


def test_values_seal_and_open_in_both_shapes_and_trees_open_whole():
    keyring = Keyring("test-key")
    value = {"a": [1, {"b": "s3cret"}]}
    sealed = secrets.seal_value(keyring, value)
    assert secrets.is_sealed(sealed) and "s3cret" not in json.dumps(sealed)
    assert secrets.seal_value(keyring, sealed) is sealed  # sealing twice changes nothing
    assert secrets.open_value(keyring, sealed) == value
    token = secrets.seal_text(keyring, "https://x/?signature=abc")
    assert secrets.open_text(keyring, token) == "https://x/?signature=abc"
    tree = {"k": sealed, "l": [secrets.seal_value(keyring, 3)], "m": "clear"}
    assert secrets.open_tree(keyring, tree) == {"k": value, "l": [3], "m": "clear"}
    assert secrets.masked(tree) == {"k": "******", "l": ["******"], "m": "clear"}


def test_redaction_covers_the_text_its_json_escaped_and_base64_forms():
    secret = 'pa"ss\\word-42'
    texts = secrets.secret_texts([secret])
    echoed = f"plain {secret} json {json.dumps(secret)} b64 {base64.b64encode(secret.encode()).decode()}"
    redacted = secrets.redact(echoed, texts)
    assert secret not in redacted and json.dumps(secret)[1:-1] not in redacted
    assert base64.b64encode(secret.encode()).decode().rstrip("=") not in redacted
    assert redacted.count("******") == 3
    # Texts too short to mean anything are not searched for (they would mask at random).
    assert secrets.redact("a b c", secrets.secret_texts(["a"])) == "a b c"


def test_a_taint_opens_what_a_resource_reads_and_remembers_its_text():
    keyring = Keyring("test-key")
    sealed = secrets.seal_value(keyring, "opened-within-9")
    taint = secrets.Taint(keyring, {"pw"})
    assert taint.parameter("plain", "x") == "x" and not taint.tainted
    with taint.within():
        assert secrets.open_tree(keyring, {"v": sealed}) == {"v": "opened-within-9"}
    assert taint.tainted and "opened-within-9" in taint.texts
    taint.fresh()
    secrets.open_value(keyring, sealed)  # outside a resolution: nobody is told
    assert not taint.tainted
    taint.parameter("pw", "hidden-value-9")
    assert taint.tainted and "hidden-value-9" in secrets.remembered()


def test_tainted_paths_name_the_properties_and_map_keys_that_read_a_secret():
    keyring = Keyring("test-key")
    taint = secrets.Taint(keyring, {"pw"})
    params = {"pw": "hidden-value-7", "plain": "x"}

    def resolve(snippet, path):
        if isinstance(snippet, dict) and "get_param" in snippet:
            return taint.parameter(snippet["get_param"], params[snippet["get_param"]])
        if isinstance(snippet, dict):
            return {k: resolve(v, path + (k,)) for k, v in snippet.items()}
        return snippet

    def is_call(snippet):
        return isinstance(snippet, dict) and len(snippet) == 1 and "get_param" in snippet

    properties = {
        "value": {"get_param": "pw"},
        "other": {"get_param": "plain"},
        "literal": 3,
        "input_values": {"password": {"get_param": "pw"}, "colour": "blue"},
    }
    paths = secrets.tainted_paths(resolve, properties, taint, is_call)
    assert paths == {("value",), ("input_values", "password")}
    assert secrets.tainted_paths(resolve, {"get_param": "pw"}, taint, is_call) == {()}


def test_the_log_filter_redacts_remembered_secrets_messages_tracebacks_and_signatures():
    secrets.remember(secrets.secret_texts(["logged-secret-123"]))
    record = logging.LogRecord(
        "engine.x",
        logging.ERROR,
        __file__,
        1,
        "failed with %s at %s",
        ("logged-secret-123", "/guest/v1/x?expires=1&signature=abcdef"),
        None,
    )
    try:
        raise ValueError("boom logged-secret-123")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert secrets.LogRedactor().filter(record)
    line = logging.Formatter().format(record)
    assert "logged-secret-123" not in line and "signature=abcdef" not in line
    assert "failed with ******" in line and "boom ******" in line


def test_request_lines_lose_every_kind_of_query_signature_and_keep_the_rest():
    line = (
        "PUT /v1/AUTH_p/c/o?temp_url_sig=0123abcd&temp_url_expires=99 HTTP/1.1 "
        "/v1/?Action=X&Signature=cfnsig GET /x?X-Amz-Signature=v4sig&a=1 /guest?signature=own"
    )
    clean = secrets.redact_url_signatures(line)
    for signature in ("0123abcd", "cfnsig", "v4sig", "=own"):
        assert signature not in clean
    assert "temp_url_expires=99" in clean and "a=1" in clean and clean.count("<redacted>") == 4

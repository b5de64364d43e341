"""The only place values are sealed, opened, masked and redacted (through the Keyring it is given);
keeps recent secret texts in process memory for LogRedactor; no store, files or network.

What Hearth treats as secret, and the only place values are sealed, opened, masked and redacted.

**What is secret** (the rules; docs/security.md tells users the same):

- a parameter declared `hidden: true`, and a nested stack's parameter whose value was derived
  from a secret (`Definition.secret_parameters`; both are stored sealed in `stacks.parameters`);
- `parameter_defaults` and the environment as the user gave it (they may hold hidden values);
- every value *derived* from a secret: a value is derived when resolving it read a secret
  parameter (`get_param`) or a value stored sealed (`get_attr`/`get_resource` of a resource
  whose stored attribute or private data is sealed). This is taint tracking through resolution
  (`Taint`), decided per property (and per key of a literal map property such as a
  deployment's `input_values`); string containment of a secret's text is the fallback, used
  where a value leaves the engine's resolution (what a hook prints, error messages);
- credentials: guest credentials, a deployment's `deploy_password`, wait-condition tokens,
  pre-signed signal URLs, the os-collect-config secrets (SEALED_SECTION_KEYS), RandomString
  values, and any text that carries one (CREDENTIAL_TEXT);
- deployment inputs that are SECRET_INPUTS, declared `hidden: true`, carry a credential, hold a
  hidden value's text or were resolved from a secret.

**Sealing** is Fernet through the installation Keyring (engine/store/crypto.py, the primitive):
a sealed value is `{"__hearth_encrypted__": token}` in place of the value. Two shapes exist:
`seal_text` (a string as is: tokens, URLs) and `seal_value` (any JSON value, as its JSON text).
`open_tree` opens every `seal_value` node inside a value.

**Masking** (`masked`) is what API answers show for a sealed value: HIDDEN. **Redacting**
(`redact`) replaces a secret's text (and its JSON-escaped and base64 forms) inside free text
such as failure reasons and events.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from engine.store.crypto import ENCRYPTED, Keyring, is_encrypted

# What every API answer shows in place of a secret value.
HIDDEN = "******"

# Inputs always stored encrypted: the deployment's guest password and its signal URL.
SECRET_INPUTS = ("deploy_password", "deploy_signal_id")
# Text that carries a live credential: a pre-signed URL's signature, or a guest credential
# (engine.guest.credentials makes them "hg<kind>_<random>"), e.g. a handle's curl_cli in an input.
CREDENTIAL_TEXT = re.compile(r"[?&](?:signature|temp_url_sig)=|\bhg[a-z]_[A-Za-z0-9_-]{20,}")
# The secrets a transport puts in the `os-collect-config` section, as (subsection, key): the
# POLL_TEMP_URL collect URL (it reads the server's metadata, secrets opened), the
# POLL_SERVER_CFN secret access key and the POLL_SERVER_HEAT password. Stored sealed.
SEALED_SECTION_KEYS = (
    ("request", "metadata_url"),
    ("cfn", "secret_access_key"),
    ("heat", "password"),
    ("zaqar", "password"),
)
# An event sink's secrets (docs/webhooks.md): a webhook's HMAC key, and its URL, whose query may
# carry a token. Stored sealed, shown masked; the URL's scheme, host and path are not secret.
SINK_SECRET_KEYS = ("url", "secret")
# A pre-signed URL's signature in a request line (access logs): Hearth's own, CFN's, Swift's
# temp URLs' and SigV4 query signatures.
_URL_SIGNATURE = re.compile(r"((?:^|[?&])(?:signature|Signature|temp_url_sig|X-Amz-Signature)=)[^&\s]+")
# The password of each user:password@ of a URL's host list (the scheme's // or a comma before).
_URL_PASSWORD = re.compile(r"((?://|,)[^:/@,]*:)[^@]*@")
# Texts shorter than this are not searched for in free text: "1" or "no" would mask at random.
MIN_REDACTED = 4


# Sealing and opening -------------------------------------------------------------------------
def is_sealed(value: Any) -> bool:
    return is_encrypted(value)


def seal_text(keyring: Keyring, text: str) -> dict:
    """A string (a token, a URL) sealed as is; `open_text` gives it back."""
    return keyring.encrypt(text)


def open_text(keyring: Keyring, value: Any) -> Any:
    """The inverse of seal_text; a value that is not sealed is returned unchanged."""
    if not is_encrypted(value):
        return value
    return _opened(keyring.decrypt(value))


def seal_value(keyring: Keyring, value: Any) -> Any:
    """Any JSON value sealed (its JSON text); a value sealed already stays as it is."""
    return value if is_encrypted(value) else keyring.seal_json(value)


def open_value(keyring: Keyring, value: Any) -> Any:
    """The inverse of seal_value; a value that is not sealed is returned unchanged."""
    if not is_encrypted(value):
        return value
    text = keyring.decrypt(value)
    try:
        return _opened(json.loads(text))
    except ValueError:  # a seal_text value: the text itself
        return _opened(text)


def holds_sealed(node: Any) -> bool:
    """Whether a sealed value is anywhere inside `node`."""
    if is_encrypted(node):
        return True
    if isinstance(node, dict):
        return any(holds_sealed(v) for v in node.values())
    if isinstance(node, list):
        return any(holds_sealed(v) for v in node)
    return False


def open_tree(keyring: Keyring, node: Any) -> Any:
    """`node` with every sealed value inside opened (`node` itself when none is)."""
    if not holds_sealed(node):
        return node
    if is_encrypted(node):
        return open_value(keyring, node)
    if isinstance(node, dict):
        return {k: open_tree(keyring, v) for k, v in node.items()}
    return [open_tree(keyring, v) for v in node]


def sealed_texts(keyring: Keyring, node: Any) -> list[str]:
    """The text forms of every sealed value inside `node`, opened (to look for copies)."""
    found: list[Any] = []

    def walk(item):
        if is_encrypted(item):
            found.append(open_value(keyring, item))
        elif isinstance(item, dict):
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(node)
    return secret_texts(found)


def seal_keys(keyring: Keyring, values: dict | None, keys: Iterable[str] | None = None) -> dict:
    """`values` with the value of each of `keys` (every key when None) sealed."""
    values = dict(values or {})
    chosen = set(values) if keys is None else set(keys)
    return {k: (seal_value(keyring, v) if k in chosen else v) for k, v in values.items()}


# Stacks: parameters and the environment ------------------------------------------------------
def seal_parameters(keyring: Keyring, values: dict[str, Any], secret: Iterable[str]) -> dict[str, Any]:
    """Parameter values as `stacks.parameters` stores them: the `secret` ones sealed."""
    return seal_keys(keyring, values, set(secret) & set(values))


def open_parameters(keyring: Keyring, stored: dict[str, Any] | None) -> tuple[dict[str, Any], set[str]]:
    """Stored parameter values opened, and the names of those that were sealed (secret)."""
    stored = dict(stored or {})
    return ({k: open_value(keyring, v) for k, v in stored.items()}, {k for k, v in stored.items() if is_encrypted(v)})


def seal_environment(keyring: Keyring, parameter_defaults: dict | None, shown: dict) -> dict[str, Any]:
    """The sealed parts of a stored environment: `parameter_defaults` (nested stacks inherit
    them; they may hold secrets) and the environment as the user gave it (`shown`)."""
    sealed: dict[str, Any] = {"shown": seal_value(keyring, shown)}
    if parameter_defaults:
        sealed["parameter_defaults"] = seal_value(keyring, parameter_defaults)
    return sealed


def open_environment(keyring: Keyring, stored: dict | None) -> dict[str, Any]:
    """A stored environment with its parameter_defaults opened and the user's copy left out."""
    environment = dict(stored or {})
    environment.pop("shown", None)
    for key in ("parameter_defaults", "parameters"):
        if is_encrypted(environment.get(key)):
            environment[key] = open_value(keyring, environment[key])
    if environment.get("event_sinks"):
        environment["event_sinks"] = open_sinks(keyring, environment["event_sinks"])
    return environment


def seal_sinks(keyring: Keyring, sinks: list) -> list:
    """`event_sinks` with each sink's SINK_SECRET_KEYS sealed (`open_sinks` opens them)."""
    return [
        {k: seal_text(keyring, v) if k in SINK_SECRET_KEYS and isinstance(v, str) else v for k, v in sink.items()}
        if isinstance(sink, dict)
        else sink
        for sink in sinks
    ]


def open_sinks(keyring: Keyring, sinks: list) -> list:
    return [{k: open_text(keyring, v) for k, v in sink.items()} if isinstance(sink, dict) else sink for sink in sinks]


def masked_sinks(sinks: list) -> list:
    """`event_sinks` as answers show them: a webhook's key HIDDEN, its URL's query too."""
    shown = []
    for sink in sinks:
        if isinstance(sink, dict):
            sink = dict(sink)
            if "secret" in sink:
                sink["secret"] = HIDDEN
            if isinstance(sink.get("url"), str) and "?" in sink["url"]:
                sink["url"] = sink["url"].split("?", 1)[0] + "?" + HIDDEN
        shown.append(sink)
    return shown


def open_shown_environment(keyring: Keyring, stored: dict | None) -> dict | None:
    """The environment as the user gave it, opened; None when none was kept."""
    shown = (stored or {}).get("shown")
    return None if shown is None else open_value(keyring, shown)


def masked_parameters(values: dict[str, Any], secret: Iterable[str]) -> dict[str, Any]:
    """Parameters as API answers show them: each secret one as HIDDEN."""
    secret = set(secret)
    return {k: (HIDDEN if k in secret else v) for k, v in values.items()}


# Software configs and deployments -------------------------------------------------------------
def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def secret_input_names(inputs: list[dict], hidden_values: list[str], tainted: Iterable[str] = ()) -> set[str]:
    """Inputs to store encrypted: SECRET_INPUTS, inputs declared `hidden: true` (a Hearth
    extension), values that carry a credential, values holding a hidden parameter's value
    (`hidden_values`, their text forms: the fallback) and inputs resolved from a secret
    (`tainted`: taint tracking)."""
    names = set(tainted)
    for item in inputs:
        name, value = item.get("name"), item.get("value")
        text = _text(value) if value is not None else ""
        if (
            name in SECRET_INPUTS
            or item.get("hidden") is True
            or CREDENTIAL_TEXT.search(text)
            or any(h in text for h in hidden_values if h)
        ):
            names.add(name)
    return names


def seal_inputs(keyring: Keyring, inputs: list[dict], secret: set[str]) -> list[dict]:
    """Config inputs with the value and default of each `secret` one sealed."""
    sealed = []
    for item in inputs:
        entry = dict(item)
        if entry.get("name") in secret:
            for key in ("value", "default"):
                if key in entry:
                    entry[key] = seal_value(keyring, entry[key])
        sealed.append(entry)
    return sealed


def open_inputs(keyring: Keyring, inputs: list[dict] | None) -> list[dict]:
    opened = []
    for item in inputs or []:
        if is_encrypted(item.get("value")) or is_encrypted(item.get("default")):
            item = {k: (open_value(keyring, v) if k in ("value", "default") else v) for k, v in item.items()}
        opened.append(item)
    return opened


def seal_config_inputs(
    keyring: Keyring, config: Any, inputs: list[dict], secret: set[str], derived: bool = False
) -> tuple[Any, list[dict]]:
    """A config and its inputs as stored: the `secret` inputs and inputs declared `hidden`
    sealed, and the config itself sealed when it is `derived` from a secret (taint tracking)
    or a secret value appears in it (a structured config that substituted one)."""
    secret = set(secret) | {i.get("name") for i in inputs if i.get("hidden") is True}
    texts = secret_texts(i.get("value") for i in inputs if i.get("name") in secret)
    inputs = seal_inputs(keyring, inputs, secret)
    if derived or (texts and any(t in _text(config) for t in texts)):
        config = seal_value(keyring, config)
    return config, inputs


def open_entry(keyring: Keyring, entry: dict) -> dict:
    """One `deployments` entry (or config body) with its sealed inputs and config opened."""
    if not isinstance(entry, dict):
        return entry
    opened = dict(entry)
    if is_encrypted(opened.get("config")):
        opened["config"] = open_value(keyring, opened["config"])
    if opened.get("inputs"):
        opened["inputs"] = open_inputs(keyring, opened["inputs"])
    return opened


def input_texts(keyring: Keyring, inputs: list[dict] | None) -> list[str]:
    """The text forms of the sealed input values of a stored config (to redact copies)."""
    sealed = [i for i in inputs or [] if is_encrypted(i.get("value"))]
    return secret_texts(i.get("value") for i in open_inputs(keyring, sealed))


def _map_section(occ: Any, change) -> Any:
    """`occ` with change(value) applied to each SEALED_SECTION_KEYS value; `occ` itself when
    change altered nothing (so callers can tell a no-op by identity)."""
    if not isinstance(occ, dict):
        return occ
    result = occ
    for section, key in SEALED_SECTION_KEYS:
        sub = result.get(section)
        value = sub.get(key) if isinstance(sub, dict) else None
        if value is None:
            continue
        changed = change(value)
        if changed is not value:
            result = {**result, section: {**sub, key: changed}}
    return result


def seal_section(keyring: Keyring, occ: Any) -> Any:
    """An `os-collect-config` section with its transport secrets sealed (SEALED_SECTION_KEYS)."""
    return _map_section(occ, lambda v: keyring.encrypt(v) if isinstance(v, str) else v)


def open_section(keyring: Keyring, occ: Any) -> Any:
    """seal_section undone; the section itself when nothing in it is sealed."""
    return _map_section(occ, lambda v: open_text(keyring, v))


def open_document(keyring: Keyring, doc: dict) -> dict:
    """A server metadata document as the agent must receive it: sealed values opened.
    Cheap when nothing is sealed (only the deployments' inputs and the collect URL are looked at)."""
    occ = (doc or {}).get("os-collect-config")
    opened_occ = open_section(keyring, occ)
    entries = (doc or {}).get("deployments")
    # The template metadata, sealed when derived from a secret.
    sealed = [k for k, v in (doc or {}).items() if k not in ("deployments", "os-collect-config") and holds_sealed(v)]
    if not entries and opened_occ is occ and not sealed:
        return doc
    opened = {**doc, "os-collect-config": opened_occ} if opened_occ is not occ else dict(doc)
    if entries:
        opened["deployments"] = [open_entry(keyring, e) for e in entries]
    for key in sealed:
        opened[key] = open_tree(keyring, opened[key])
    return opened


def seal_outputs(keyring: Keyring, outputs: dict, derived: bool, texts: list[str]) -> dict:
    """A deployment's signalled output values as stored: each one sealed when the deployment
    is `derived` from a secret (its outputs are then derived too), else with the `texts` of
    its secret inputs redacted (a hook that echoes its deploy_password)."""
    if derived:
        return seal_keys(keyring, outputs)
    return {k: (redact(v, texts) if isinstance(v, str) else v) for k, v in outputs.items()}


# Guest Keystone tokens ---------------------------------------------------------------------
def seal_claims(keyring: Keyring, claims: dict) -> str:
    """A stateless token's body: the claims sealed, as text (the token carries no marker)."""
    return keyring.encrypt(json.dumps(claims))[ENCRYPTED]


def open_claims(keyring: Keyring, body: str) -> dict:
    """seal_claims undone; raises InvalidToken (or ValueError) for anything else."""
    return json.loads(keyring.decrypt({ENCRYPTED: body}))


# Masking and redacting ----------------------------------------------------------------------
def masked(value: Any) -> Any:
    """`value` as the API shows it: every sealed part replaced by HIDDEN."""
    if is_encrypted(value):
        return HIDDEN
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def masked_paths(value: Any, paths: Iterable[tuple]) -> Any:
    """`value` (resolved properties) with the value at each of `paths` (taint tracking's
    property paths) shown as HIDDEN."""
    for path in paths:
        if not path:
            return HIDDEN
        node = value
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            node[path[-1]] = HIDDEN
    return value


def secret_texts(values: Iterable[Any]) -> list[str]:
    """The text forms of secret values, to look for where they may have been copied: the
    text, its JSON-escaped form and its base64 form (what a hook or a message may echo)."""
    texts: list[str] = []
    for value in values:
        if value is None or is_encrypted(value):
            continue
        text = _text(value)
        if not text:
            continue
        texts.append(text)
        if len(text) < MIN_REDACTED:
            continue
        escaped = json.dumps(text)[1:-1]
        if escaped != text:
            texts.append(escaped)
        texts.append(base64.b64encode(text.encode()).decode().rstrip("="))
    return texts


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret text inside replaced by HIDDEN, longest first."""
    if not text:
        return text
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_REDACTED}, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def redacted_error(error, texts: Iterable[str]):
    """A template error whose reason quotes none of `texts` (a copy, when it quoted one)."""
    reason = getattr(error, "reason", None)
    if not isinstance(reason, str) or redact(reason, texts) == reason:
        return error
    clone = copy.copy(error)
    clone.reason = redact(reason, texts)
    return clone.located(path=clone.path, file=clone.file, line=clone.line, kind=clone.kind)


def redact_url_signatures(text: str) -> str:
    """A request line without the signatures of pre-signed URLs (access logs)."""
    return _URL_SIGNATURE.sub(r"\1<redacted>", text)


def redact_url_password(url: str) -> str:
    """A transport URL (rabbit://user:password@host:port,user:password@host2/vhost) with each
    password replaced by HIDDEN: what logs and settings dumps may show of it."""
    return _URL_PASSWORD.sub(lambda m: m.group(1) + HIDDEN + "@", url)


# Taint tracking -----------------------------------------------------------------------------
class Taint:
    """What one resolution read that is secret: `tainted` once it read a secret parameter or
    opened a sealed value, and the texts of what it read (for redacting messages about it).

    The Resolver (engine/orchestration/definitions.py) reports parameter reads and reads resources `within()`
    its taint: whatever a resource type opens meanwhile (its stored sealed attribute, a
    RandomString's value, a handle's token, a nested stack's sealed output) taints the value
    being resolved. `fresh()` starts a new value; `texts` accumulate."""

    def __init__(self, keyring: Keyring, secret_parameters: Iterable[str] = ()):
        self.keyring = keyring
        self.secret_parameters = frozenset(secret_parameters)
        self.tainted = False
        self.texts: list[str] = []

    def fresh(self) -> None:
        self.tainted = False

    def parameter(self, name: str, value: Any) -> Any:
        if name in self.secret_parameters:
            self.read(value)
        return value

    @contextmanager
    def within(self) -> Iterator[Taint]:
        """Every sealed value opened meanwhile (in this thread) taints this resolution."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def read(self, value: Any) -> None:
        self.tainted = True
        texts = secret_texts([value])
        self.texts.extend(t for t in texts if t not in self.texts)
        remember(texts)


_CURRENT: ContextVar[Taint | None] = ContextVar("hearth_taint", default=None)


def _opened(value: Any) -> Any:
    """A value just opened: the resolution in progress (if any) read a secret."""
    taint = _CURRENT.get()
    if taint is not None:
        taint.read(value)
    return value


def report(value: Any) -> Any:
    """Tell the resolution in progress (if any) that `value`, which it reads, is derived from
    a secret (a nested stack's output resolved by the nested stack's own resolver)."""
    return _opened(value)


def tainted_paths(resolve, properties: Any, taint: Taint, is_call) -> frozenset[tuple]:
    """The property paths whose resolution reads a secret: each property resolved again on
    its own (`resolve(snippet, key_path)`), and each key of a literal map property (a
    deployment's `input_values`) too. Called only once the whole resolution was tainted.
    A snippet that fails to resolve on its own counts as tainted (safe side)."""
    if not isinstance(properties, dict) or is_call(properties):
        return frozenset({()})

    def reads_secret(snippet, path) -> bool:
        taint.fresh()
        try:
            resolve(snippet, path)
        except Exception:  # noqa: BLE001 - the whole resolution reported it already
            return True
        return taint.tainted

    found: set[tuple] = set()
    for key, snippet in properties.items():
        if not reads_secret(snippet, (key,)):
            continue
        if isinstance(snippet, dict) and snippet and not is_call(snippet):
            inner = {(key, sub) for sub, value in snippet.items() if reads_secret(value, (key, sub))}
            found |= inner or {(key,)}
        else:
            found.add((key,))
    taint.tainted = bool(found)
    return frozenset(found)


# Log redaction ------------------------------------------------------------------------------
# The texts of secrets this process has handled lately, so that a log line that quotes one
# (an exception's message, a traceback) is redacted before it is written. Bounded: the
# oldest are forgotten first.
_REMEMBERED: OrderedDict[str, None] = OrderedDict()
_REMEMBERED_LOCK = threading.Lock()
REMEMBER_AT_MOST = 10000


def remember(texts: Iterable[str]) -> None:
    with _REMEMBERED_LOCK:
        for text in texts:
            if text and len(text) >= MIN_REDACTED:
                _REMEMBERED[text] = None
                _REMEMBERED.move_to_end(text)
        while len(_REMEMBERED) > REMEMBER_AT_MOST:
            _REMEMBERED.popitem(last=False)


def remembered() -> list[str]:
    with _REMEMBERED_LOCK:
        return list(_REMEMBERED)


class LogRedactor:
    """A logging filter (install it on handlers) that redacts remembered secret texts and
    pre-signed URL signatures from every record."""

    def filter(self, record) -> bool:
        texts = remembered()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's own business
            return True
        clean = redact_url_signatures(redact(message, texts))
        if record.exc_info and texts:
            import logging

            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), texts)
            record.exc_info = None
        if clean != message:
            record.msg, record.args = clean, None
        return True

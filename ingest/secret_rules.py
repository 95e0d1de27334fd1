"""What counts as a secret: secret-like names and secret-shaped text, and a cheap
prefilter that says whether a text can hold either.

The shapes follow the token formats documented by their issuers and collected in public
secret-scanning rule sets (gitleaks' default rules, detect-secrets' plugins); the
expressions are our own. The prefilter must match the JSON text (RFC 8785 or orjson
output, where control characters, quotes and backslashes are escaped) of anything a
detector finds, and the UTF-8 of any such string: a text it does not match is not walked.
``tests/ingest/test_secret_corpus.py`` checks both on every sample.

Names are compared in one normalized form: ASCII lower case with ``_``, ``-`` and ``.``
removed, so ``AWS_SECRET_ACCESS_KEY``, ``aws-secret-access-key``, ``awsSecretAccessKey``
and ``aws.secret.access.key`` are all ``awssecretaccesskey``. A name is secret-like when
its normalized form ends with one of the suffixes below (then optional digits):
``dbPassword``, ``SLACK_BOT_TOKEN``, ``client_secret``. Names of identifiers and
metadata (``accessKeyId``, ``secretArn``, ``passwordLastUsed``, ``tokenType``) do not
end so, and pagination or idempotency tokens are excluded by name.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

__all__ = [
    "ASSIGNMENT",
    "PAIR",
    "SHAPES",
    "Shape",
    "is_placeholder",
    "is_secret_name",
    "might_hold_secret",
    "normalize_name",
]

_UPPER = string.ascii_uppercase.encode()
_LOWER = string.ascii_lowercase.encode()
_SEPARATORS = "_-."
_FOLD_BYTES = bytes.maketrans(_UPPER, _LOWER)
# ASCII only: str.lower() would also fold look-alikes (the Kelvin sign to "k").
_FOLD_STR = str.maketrans(string.ascii_uppercase, string.ascii_lowercase, _SEPARATORS)

# Our policy: what a secret-like name ends with (normalized form).
_TOKEN_NOT_SECRET = ("next", "page", "continuation", "pagination", "request", "idempotency",
                     "hashed", "sync")  # fmt: skip
_NAME_SUFFIXES = (
    "passw(?:or)?d", "passphrase", "secret(?:string|binary|(?:access)?key)?", "encryptedvalue",
    "privatekey", "apikey", "signingkey", "encryptionkey", "masterkey", "accountkey",
    "sharedkey", "authorization", "cookie", "token(?:value)?",
)  # fmt: skip
_NOT_AFTER = "".join(f"(?<!{word})" for word in _TOKEN_NOT_SECRET)
_SECRET_NAME = re.compile(
    "(?:{}|{}token(?:value)?)[0-9]*\\Z".format("|".join(_NAME_SUFFIXES[:-1]), _NOT_AFTER)
)


def normalize_name(name: str) -> str:
    return name.translate(_FOLD_STR)


def is_secret_name(name: str) -> bool:
    """Does a member (or variable, or header) of this name hold a secret?"""
    return len(name) <= 200 and _SECRET_NAME.search(normalize_name(name)) is not None


# What sources and templates put in place of a secret: not an exposure.
_PLACEHOLDER = re.compile(
    r"(?:HIDDEN_DUE_TO_SECURITY_REASONS|Value hidden due to security reasons\.?|\*+|x+|X+"
    r"|<[^<>]*>|\[?redacted\]?|true|false|null|none|nil|undefined"
    r"|\$[A-Za-z_][A-Za-z0-9_]*|\$|\$\{.*|\{\{.*|%[A-Za-z_][A-Za-z0-9_]*%|)\Z",
    re.IGNORECASE,
)
_MARK = "[REDACTED:"
_HMACED = "hmac-sha256:"


def is_placeholder(value: str) -> bool:
    """A withheld value, a template reference, an HMAC or one of our marks."""
    return value.startswith((_MARK, _HMACED)) or _PLACEHOLDER.match(value.strip()) is not None


@dataclass(frozen=True)
class Shape:
    """A secret recognised by its form. Group ``v`` is the secret; the rest of a match is
    context that stays (the access key id before its secret key, a URL's user name)."""

    kind: str
    pattern: re.Pattern[str]


# Not after a letter or digit; in JSON text also right after an escape such as \n.
_START = r"(?:(?<![A-Za-z0-9])|(?<=\\[nrt]))"
_END = r"(?![A-Za-z0-9])"
_PEM_BOUNDARY = r"-{{4,5}} ?{} [A-Z0-9 ]{{0,40}}PRIVATE KEY(?: BLOCK)? ?-{{4,5}}"
# GitLab token prefixes: gl<kind>- (personal, deploy, runner, trigger, ... tokens).
_GITLAB_KINDS = ("pat", "dt", "rt", "ptt", "cbt", "ft", "soat", "oas", "imt", "agent", "ffct")
_AWS_KEY_ID = r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}"


def _shape(kind: str, pattern: str) -> Shape:
    if "(?P<v>" not in pattern:
        pattern = f"(?P<v>{pattern})"
    return Shape(kind, re.compile(pattern, re.ASCII))


SHAPES: tuple[Shape, ...] = (
    # PEM (RSA, EC, DSA, PKCS#8, encrypted, OPENSSH, PGP "PRIVATE KEY BLOCK", SSH2): the
    # body up to its END line, or to where the text stops looking like one (truncated).
    _shape(
        "private-key",
        _PEM_BOUNDARY.format("BEGIN")
        + r"(?:(?!-{4,5} ?END )[A-Za-z0-9+/=\s:,.()_-]|\\[nrt/])*"
        + rf"(?:{_PEM_BOUNDARY.format('END')})?",
    ),
    _shape(
        "private-key",
        r"PuTTY-User-Key-File-[0-9]+:(?:(?!Private-MAC)[^\"\\]|\\[nrt/])*"
        r"(?:Private-MAC: ?[0-9a-fA-F]+)?",
    ),
    # STS session tokens start with these encodings of their protobuf header.
    _shape(
        "aws-session-token",
        r"(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdzE|FQoGZXIvYXdzE)[A-Za-z0-9/+=]{40,}",
    ),
    # A secret access key written next to its access key id (credentials CSV, "id:key").
    # The id identifies the key and stays; only the 40 characters after it are secret.
    _shape(
        "aws-secret-access-key",
        rf"{_START}{_AWS_KEY_ID}{_END}"
        r"(?:[ \t,;:|='\"]|\\[t\"]){1,6}(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    ),
    _shape(
        "github-token",
        r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})",
    ),
    _shape(
        "gitlab-token",
        rf"gl(?:{'|'.join(_GITLAB_KINDS)})-[A-Za-z0-9_-]{{20,}}",
    ),
    _shape(
        "slack-token",
        r"x(?:ox[abeoprs](?:\.xox[bp])?|app)-[0-9][A-Za-z0-9-]{9,}",
    ),
    _shape(
        "slack-webhook",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
    ),
    _shape(
        "stripe-key",
        r"(?:[rs]k_(?:live|test|prod)_[A-Za-z0-9]{10,99}|whsec_[A-Za-z0-9+/=]{24,})",
    ),
    _shape(
        "google-api-key",
        r"AIza[A-Za-z0-9_-]{35}",
    ),
    _shape("npm-token", r"npm_[A-Za-z0-9]{36}"),
    _shape("pypi-token", r"pypi-AgE[A-Za-z0-9_-]{50,}"),
    # OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-) and Anthropic (sk-ant-api03-...).
    _shape(
        "ai-api-key",
        r"(?:sk-(?:ant-[a-z]{2,8}[0-9]{2}|proj|svcacct|admin)-[A-Za-z0-9_-]{20,}"
        rf"|{_START}sk-[A-Za-z0-9]{{48}}{_END})",
    ),
    _shape(
        "sendgrid-key",
        r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    ),
    _shape(
        "twilio-key",
        rf"{_START}(?:SK|AC)[0-9a-f]{{32}}{_END}",
    ),
    _shape(
        "jwt",
        r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    ),
    _shape(
        "vault-token",
        r"hv[sbr]\.[A-Za-z0-9_-]{24,}",
    ),
    # user:password@ in a URL: the password only.
    _shape(
        "url-password",
        r"://[^\s:/?#@\"'\\<>]+:(?P<v>[^\s/?#@\"'\\<>]+)@",
    ),
    # In JSON text the white space after "bearer" is a space or an escape (\t, \n, ...).
    _shape(
        "bearer-token",
        r"(?i:bearer)\s+[A-Za-z0-9._~+/-]{16,}=*",
    ),
)

_VALUE = (
    r"(?:\"(?P<dq>(?:[^\"\\\n]|\\[^\n])++)|'(?P<sq>[^'\\\n]++)|\\\"(?P<eq>(?:[^\"\\]|\\[^\"])++)"
    r"|(?P<bare>(?:(?i:basic|bearer|token|digest)[ \t]+)?[^\s\"'\\,;&<>(){}\[\]]++))"
)
_QUOTE = r"(?:\\?[\"'])?"
# Free text: `name = value`, `name: value`, `"name": "value"`, `NAME=value`, `--name=value`,
# `?name=value`; the name is judged by is_secret_name. Not inside an ARN or a path
# (`arn:aws:secretsmanager:...:secret:db` names a secret, it is not one).
ASSIGNMENT = re.compile(
    rf"(?:(?<![A-Za-z0-9_.:/\\-])|(?<=\\[nrt]))-{{0,2}}(?P<name>[A-Za-z_][\w.-]*+){_QUOTE}"
    rf"[ \t]*(?::=|=>|[:=])[ \t]*{_VALUE}",
    re.ASCII,
)
# Name/value pairs written as text (a manifest in a comment, broken JSON, YAML):
# `"name": "DB_PASSWORD", "value": "..."`, `- name: DB_PASSWORD\n  value: ...`.
_SPACE = r"(?:[ \t\r\n]|\\[nrt])*"
PAIR = re.compile(
    rf"{_QUOTE}(?:name|Name|key|Key|ParameterKey|variable){_QUOTE}[ \t]*[:=][ \t]*{_QUOTE}"
    rf"(?P<name>[A-Za-z_][\w./-]{{0,120}}+){_QUOTE}[ \t]*[,;]?{_SPACE}(?:-[ \t]+)?{_QUOTE}"
    rf"(?:value|Value|ParameterValue|encrypted_value){_QUOTE}[ \t]*[:=][ \t]*{_VALUE}",
    re.ASCII,
)
# The prefilter: passes over a JSON text (or a string's UTF-8) that together match
# wherever a shape or a secret-like name could. Each starts with one literal, which the
# regex engine finds fast, and looks around it; a pattern starting with a character class
# is scanned about ten times slower. Passes over the text as it is:
_GAP = rb"(?:[ \t,;:|='\"]|\\[t\"]){1,12}"
_TEXT_PASSES = tuple(
    re.compile(pattern)
    for pattern in (
        rb"_(?:pat_(?<=github_pat_)|live_|test_|prod_|[A-Za-z0-9]{24}"
        rb"(?:(?<=whsec_[A-Za-z0-9]{24})|[A-Za-z0-9]{12}(?:(?<=gh[pousr]_[A-Za-z0-9]{36})"
        rb"|(?<=npm_[A-Za-z0-9]{36}))))",
        rb"-(?:BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY| BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY"
        rb"|ant-(?<=sk-ant-)|proj-(?<=sk-proj-)|svcacct-(?<=sk-svcacct-)|admin-(?<=sk-admin-)"
        rb"|AgE(?<=pypi-AgE)|User-Key-File-(?<=PuTTY-User-Key-File-)"
        rb"|[0-9](?:(?<=xox[abeoprs]-[0-9])|(?<=xapp-[0-9]))"
        rb"|[A-Za-z0-9_-]{20}(?:"
        + b"|".join(
            b"(?<=gl%s-[A-Za-z0-9_-]{20})" % kind.encode() for kind in _GITLAB_KINDS
        )  # fmt: skip
        + rb"|[A-Za-z0-9]{28}(?<=sk-[A-Za-z0-9]{48})))",
        rb"\.(?:eyJ|slack\.com/(?<=hooks\.slack\.com/)|[A-Za-z0-9_-]{22}"
        rb"(?:\.(?<=SG\.[A-Za-z0-9_-]{22}\.)|[A-Za-z0-9_-]{2}(?<=hv[sbr]\.[A-Za-z0-9_-]{24})))",
        rb"A(?:(?:3T[A-Z0-9]|KIA|SIA|BIA|CCA)[A-Z0-9]{16}" + _GAP + rb"[A-Za-z0-9/+]{40}"
        rb"|Iza[A-Za-z0-9_-]{35}|C[0-9a-f]{32})",
        rb"K(?<=SK)[0-9a-f]{32}",
        rb"Z(?:2luX2Vj(?<=IQoJb3JpZ2luX2Vj)|XIvYXdzE(?<=F[wQ]oGZXIvYXdzE))",
        rb"://[^\s/?#@\"'\\<>]*:[^\s/?#@\"'\\<>]*@",
    )
)
# ...and over the folded text (ASCII lower case, "_-." removed), where a secret-like name
# is one of _NAME_SUFFIXES followed by digits and then no letter, and "bearer" is followed
# by white space (in JSON text, an escape). A Kubernetes Secret's "kind" is "secret" too.
_NAME_END = rb"[0-9]*(?![a-z0-9])"
_FOLDED_PASSES = tuple(
    re.compile(pattern)
    for pattern in (
        rb"k(?:en(?<=token)(?:value)?|ie(?<=cookie)|ey(?:(?<=privatekey)|(?<=apikey)"
        rb"|(?<=signingkey)|(?<=encryptionkey)|(?<=masterkey)|(?<=accountkey)|(?<=sharedkey)))"
        + _NAME_END,
        rb"pass(?:w(?:or)?d|phrase)" + _NAME_END,
        rb"zation(?<=authorization)" + _NAME_END,
        rb"encryptedvalue" + _NAME_END,
        # Not between colons: that is an ARN's resource type (`...:secret:db`), which names
        # no secret (free-text names never start after a colon; a member name ends before
        # its closing quote).
        rb"cret(?<=secret)(?:(?<!:secret)(?:string|binary|(?:access)?key)?"
        + _NAME_END
        + rb"|(?:string|binary|(?:access)?key)?[0-9]*(?![a-z0-9:]))",
        rb"bearer[\s\\]",
    )
)


def might_hold_secret(text: bytes) -> bool:
    """False means no detector can find anything in this JSON text (or string)."""
    for scan in _TEXT_PASSES:
        if scan.search(text):
            return True
    folded = text.translate(_FOLD_BYTES, b"_-.")
    for scan in _FOLDED_PASSES:
        if scan.search(folded):
            return True
    return False

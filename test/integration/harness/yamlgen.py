"""Python values -> YAML text in the shape CONFIG.md describes (no PyYAML).

dict -> block mapping; list of dicts -> block sequence; list of scalars -> flow
sequence; bool -> on/off; int/float -> bare; str -> double-quoted (JSON escapes are
valid YAML); Raw("...") -> written verbatim; keys whose value is None are left out.
"""

import json


class Raw(str):
    """A scalar written verbatim, unquoted (e.g. Raw("auto"), Raw("{X-Auth-Key: k}"))."""


def scalar(v):
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    raise TypeError("cannot write %r as a YAML scalar" % (v,))


def _is_scalar(v):
    return isinstance(v, (str, bool, int, float))


def to_yaml(obj, indent=0):
    pad = " " * indent
    out = []
    if not isinstance(obj, dict):
        raise TypeError("the top level must be a dict")
    for k, v in obj.items():
        if v is None:
            continue
        key = str(k)
        if isinstance(v, dict):
            if not v:
                out.append("%s%s: {}" % (pad, key))
            elif all(_is_scalar(x) for x in v.values()) and key in _FLOW_MAPS:
                out.append("%s%s: {%s}" % (pad, key, ", ".join(
                    "%s: %s" % (json.dumps(str(a)), scalar(b)) for a, b in v.items())))
            else:
                out.append("%s%s:" % (pad, key))
                out.append(to_yaml(v, indent + 2))
        elif isinstance(v, (list, tuple)):
            if v and all(isinstance(x, dict) for x in v):
                out.append("%s%s:" % (pad, key))
                for item in v:
                    body = to_yaml(item, indent + 4).splitlines()
                    if not body:
                        out.append("%s  - {}" % pad)
                        continue
                    out.append("%s  - %s" % (pad, body[0][indent + 4:]))
                    out.extend(body[1:])
            else:
                out.append("%s%s: [%s]" % (pad, key, ", ".join(scalar(x) for x in v)))
        else:
            out.append("%s%s: %s" % (pad, key, scalar(v)))
    return "\n".join(out)


# name-value mappings that read best in flow style (CONFIG.md rule 4)
_FLOW_MAPS = {"auth_http_header"}

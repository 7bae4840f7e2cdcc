"""Write ralph-loop plugins in Python: a class with ``@hook`` methods.

::

    from ralph.plugins import Plugin, hook, veto

    class MyPlugin(Plugin):
        name = "my-plugin"
        version = "1.0.0"

        def __init__(self, config):
            self.config = config

        @hook("workflow.on_start")
        def on_start(self, context):
            print(f"Starting workflow: {context.workflow_name}")

        @hook("phase.before_build")
        def before_build(self, context):
            if self.config.get("block") == "true":
                return veto("builds are blocked")

A hook method receives the hook's context (a ``Context``: ``context.workflow_name``,
``context.success``, ``context.metrics.tokens_used``; a field the hook does not carry is
``None``) and answers ``None`` (carry on), or one of ``veto(reason)``, ``annotate(*notes)``,
``modify(patch)``, ``metrics(*samples)``. What it prints, and what it logs with ``log``, goes
to the run's journal as the plugin's log lines.

The plugin runs in ralph-loop's sandbox: no files, no network, no environment variables;
each hook call runs in a fresh instance, so nothing is kept from one call to the next.
"""

import json as _json

__all__ = [
    "Plugin", "Context", "Config", "Decision", "PluginError",
    "hook", "veto", "annotate", "modify", "metrics", "metric", "log", "emit_metric", "notify",
]


class PluginError(Exception):
    """An error the plugin answers: the engine counts it as a failed call (see ``on_error``)."""


def _host():
    # The host functions exist only inside the component; importing them lazily lets a
    # plugin's module be imported (and unit-tested) by a plain Python too.
    from wit_world.imports import host
    return host


# ---- what the engine offers ----------------------------------------------------------

_LEVELS = ("trace", "debug", "info", "warn", "error")


def log(message, level="info"):
    """Writes a line to the run's journal under the plugin's name."""
    if level not in _LEVELS:
        raise ValueError(f"level must be one of {', '.join(_LEVELS)}, not {level!r}")
    host = _host()
    host.log(getattr(host.Level, level.upper()), str(message))


def emit_metric(name, value, **labels):
    """Reports a measurement; the engine records it with the plugin's name as a label."""
    _host().emit_metric(str(name), float(value), [(str(k), str(v)) for k, v in labels.items()])


def notify(url, body):
    """Asks the engine to POST ``body`` (a dict, sent as JSON, or a JSON string) to ``url``
    after the call. Needs the ``notify`` capability in ralph.yaml; raises ``PluginError``
    when it is refused."""
    text = body if isinstance(body, str) else _json.dumps(body)
    from componentize_py_types import Err
    try:
        _host().notify(str(url), text)
    except Err as e:
        raise PluginError(f"notify {url} refused: {e.value}") from None


class Config:
    """The plugin's ``config:`` from ralph.yaml. Values are read from the engine when asked:
    strings as they are (``${VAR}`` resolved), other values as JSON text. ``config["key"]``,
    ``config.get("key", default)``, ``config.key`` and ``"key" in config`` work; the engine
    does not say which keys there are, so a ``Config`` cannot be listed."""

    def __init__(self, values=None):
        # `values` stands in for the engine (a plugin's unit tests outside the component).
        self._values = values

    def get(self, key, default=None):
        if self._values is not None:
            value = self._values.get(key)
            return default if value is None else str(value)
        value = _host().config_get(str(key))
        return default if value is None else value

    def json(self, key, default=None):
        """A non-string value (a number, a list, a mapping), parsed from its JSON text."""
        value = self.get(key)
        return default if value is None else _json.loads(value)

    def __getitem__(self, key):
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key):
        return self.get(key) is not None

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        return self.get(key)

    def __repr__(self):
        return "Config(<read from ralph.yaml on use>)"


class Context:
    """A hook's context with attribute access: ``context.workflow_name``,
    ``context.metrics.tokens_used``. A field the hook does not carry is ``None``;
    ``context["field"]``, ``context.get("field")`` and ``context.to_dict()`` work too."""

    __slots__ = ("_data",)

    def __init__(self, data):
        object.__setattr__(self, "_data", data)

    @staticmethod
    def _wrap(value):
        if isinstance(value, dict):
            return Context(value)
        if isinstance(value, list):
            return [Context._wrap(v) for v in value]
        return value

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        return Context._wrap(self._data.get(key))

    def __setattr__(self, key, value):
        raise AttributeError("a hook's context is read-only: answer `modify(patch)` to change the packet")

    def __getitem__(self, key):
        return Context._wrap(self._data[key])

    def __contains__(self, key):
        return key in self._data

    def __iter__(self):
        return iter(self._data)

    def get(self, key, default=None):
        return Context._wrap(self._data.get(key, default))

    def to_dict(self):
        return self._data

    def __repr__(self):
        return f"Context({self._data!r})"


# ---- decisions -----------------------------------------------------------------------

class Decision:
    """What a hook answers; made by ``veto``, ``annotate``, ``modify`` and ``metrics``."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Decision({self.value!r})"


def veto(reason):
    """Stops what the hook guards (needs the ``veto`` capability in ralph.yaml)."""
    return Decision({"decision": "veto", "reason": str(reason)})


def annotate(*notes):
    """Adds notes to the step's packet; they appear in the agent's prompt."""
    return Decision({"decision": "annotate", "notes": [str(n) for n in notes]})


def modify(patch):
    """Changes the step's steering packet with a JSON Merge Patch (needs ``modify``)."""
    return Decision({"decision": "modify", "patch": patch})


def metric(name, value, unit=None, **labels):
    """One measurement for ``metrics(...)``."""
    sample = {"name": str(name), "value": float(value)}
    if unit is not None:
        sample["unit"] = str(unit)
    if labels:
        sample["labels"] = {str(k): str(v) for k, v in labels.items()}
    return sample


def metrics(*samples):
    """Reports measurements made with ``metric(...)``."""
    return Decision({"decision": "metrics", "samples": list(samples)})


# ---- the plugin class ----------------------------------------------------------------

def hook(*names):
    """Marks a method as called at the named hooks (``workflow.on_start``,
    ``phase.before_build``, ``phase.after_<phase>``, ``agent.on_invoke``, ...)."""
    if not names:
        raise TypeError("hook() needs at least one hook name, e.g. @hook(\"workflow.on_start\")")

    def mark(method):
        method.__ralph_hooks__ = tuple(getattr(method, "__ralph_hooks__", ())) + tuple(names)
        return method

    return mark


class Plugin:
    """Base class of a plugin. Class attributes say who it is: ``name``, ``version``,
    ``description`` (default: the class's docstring) and ``capabilities`` it requests
    (``veto``, ``modify``, ``notify``; only ralph.yaml grants them)."""

    name = None
    version = "0.1.0"
    description = None
    capabilities = ()

    def __init__(self, config):
        self.config = config

    # The spec's helpers, in terms of what the engine offers.

    def log(self, message, level="info"):
        log(message, level)

    def send_notification(self, message, url=None):
        """POSTs ``{"text": message}`` (a Slack incoming-webhook message) to ``url``, else to
        the plugin's ``webhook`` setting; needs the ``notify`` capability."""
        target = url or self.config.get("webhook")
        if not target:
            raise PluginError("send_notification needs a URL: pass one or set `webhook` in the plugin's config")
        notify(target, {"text": str(message)})

    def escalate(self, message):
        """Tells a person: an error line in the journal, and a notification to the plugin's
        ``webhook`` when one is set (and ``notify`` is granted)."""
        log(f"escalation: {message}", "error")
        if self.config.get("webhook"):
            self.send_notification(f"escalation: {message}")

    @classmethod
    def _hooks(cls):
        """The hooks the class's methods are marked for, each with its methods, in order."""
        found = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                for name in getattr(value, "__ralph_hooks__", ()):
                    methods = found.setdefault(name, [])
                    if attr not in methods:
                        methods.append(attr)
        return found


# ---- the adapter the component exports (used by the generated entry module) ---------

def _plugin_class(module, wanted=None):
    if wanted:
        cls = getattr(module, wanted, None)
        if not (isinstance(cls, type) and issubclass(cls, Plugin)):
            raise TypeError(f"`{module.__name__}.{wanted}` is not a subclass of ralph.plugins.Plugin")
        return cls
    found = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, Plugin) and v is not Plugin
             and v.__module__ == module.__name__]
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise TypeError(f"`{module.__name__}` must define exactly one subclass of ralph.plugins.Plugin "
                        f"(found {names}): name the class in the entry, e.g. `{module.__name__}.MyPlugin`")
    return found[0]


def _kebab(name):
    out = []
    for i, c in enumerate(name):
        if c.isupper() and i and not name[i - 1].isupper():
            out.append("-")
        out.append(c.lower())
    return "".join(out)


def _descriptor(cls):
    doc = (cls.__doc__ or "").strip().splitlines()
    return {
        "name": cls.name or _kebab(cls.__name__),
        "version": str(cls.version),
        "description": cls.description if cls.description is not None else (doc[0] if doc else ""),
        "hooks": list(cls._hooks()),
        "capabilities": [str(c) for c in cls.capabilities],
    }


def _merge(decisions):
    """One decision from several methods' answers at the same hook: the first veto wins;
    patches are merged in order, notes and samples joined."""
    kept = [d.value if isinstance(d, Decision) else d for d in decisions if d is not None]
    for d in kept:
        if not isinstance(d, dict) or "decision" not in d:
            raise PluginError(f"a hook method answered {d!r}: answer None, veto(...), annotate(...), "
                              "modify(...) or metrics(...)")
    for d in kept:
        if d["decision"] == "veto":
            return d
    patches = [d["patch"] for d in kept if d["decision"] == "modify"]
    if patches:
        patch = {}
        for p in patches:
            patch = _merge_patch(patch, p)
        return {"decision": "modify", "patch": patch}
    notes = [n for d in kept if d["decision"] == "annotate" for n in d.get("notes", [])]
    if notes:
        return {"decision": "annotate", "notes": notes}
    samples = [s for d in kept if d["decision"] == "metrics" for s in d.get("samples", [])]
    if samples:
        return {"decision": "metrics", "samples": samples}
    return {"decision": "continue"}


def _merge_patch(target, patch):
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


def _call(cls, hook_name, context_json):
    """Runs the methods marked for ``hook_name``; answers the decision as JSON."""
    methods = cls._hooks().get(hook_name, [])
    if not methods:
        return _json.dumps({"decision": "continue"})
    instance = cls(Config())
    context = Context(_json.loads(context_json))
    answers = [getattr(instance, m)(context) for m in methods]
    return _json.dumps(_merge(answers))

// ralph-loop's guest library for plugins written in JavaScript or TypeScript.
//
// `ralph-loop plugin build` bundles a plugin with this module (imported as `ralph/plugins`)
// and builds it with jco / componentize-js into a WebAssembly component of the
// `ralph:plugin@1.0.0` world:
//
//   import { Plugin, veto } from "ralph/plugins";
//
//   export default class CommitGuard extends Plugin {
//     static info = { name: "commit-guard", version: "1.0.0", capabilities: ["veto"] };
//     static hooks = { "phase.before_build": "beforeBuild" };
//
//     beforeBuild(context) {
//       if (this.config.get("block") === "true") return veto("builds are blocked");
//     }
//   }
//
// A hook method receives the hook's context (a plain object: `context.workflow_name`,
// `context.success`, `context.metrics?.tokens_used`) and answers nothing (carry on) or one of
// `veto(reason)`, `annotate(...notes)`, `modify(patch)`, `metrics(...samples)`. What it
// prints with `console.log` and logs with `log` goes to the run's journal as the plugin's log
// lines. The plugin runs in ralph-loop's sandbox: no files, no network, no environment; each
// hook call runs in a fresh instance, so nothing is kept from one call to the next.

import * as host from "ralph:plugin/host@1.0.0";

/** An error the plugin answers: the engine counts it as a failed call (see `on_error`). */
export class PluginError extends Error {}

const LEVELS = ["trace", "debug", "info", "warn", "error"];

/** Writes a line to the run's journal under the plugin's name. */
export function log(message, level = "info") {
  if (!LEVELS.includes(level)) {
    throw new TypeError(`level must be one of ${LEVELS.join(", ")}, not ${level}`);
  }
  host.log(level, String(message));
}

/** Reports a measurement; the engine records it with the plugin's name as a label. */
export function emitMetric(name, value, labels = {}) {
  host.emitMetric(String(name), Number(value), Object.entries(labels).map(([k, v]) => [String(k), String(v)]));
}

/**
 * Asks the engine to POST `body` (an object, sent as JSON, or a JSON string) to `url` after
 * the call. Needs the `notify` capability in ralph.yaml; throws `PluginError` when refused.
 */
export function notify(url, body) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  try {
    host.notify(String(url), text);
  } catch (e) {
    throw new PluginError(`notify ${url} refused: ${e?.payload ?? e}`);
  }
}

/**
 * The plugin's `config:` from ralph.yaml, read from the engine when asked: strings as they
 * are (`${VAR}` resolved), other values as JSON text. The engine does not say which keys
 * there are, so a `Config` cannot be listed.
 */
export class Config {
  constructor(values) {
    // `values` stands in for the engine (a plugin's unit tests outside the component).
    this.values = values;
  }

  get(key, fallback = undefined) {
    if (this.values !== undefined) {
      const v = this.values[key];
      return v === undefined || v === null ? fallback : String(v);
    }
    const v = host.configGet(String(key));
    return v === undefined || v === null ? fallback : v;
  }

  /** A non-string value (a number, a list, a mapping), parsed from its JSON text. */
  json(key, fallback = undefined) {
    const v = this.get(key);
    return v === undefined ? fallback : JSON.parse(v);
  }

  has(key) {
    return this.get(key) !== undefined;
  }
}

/** Stops what the hook guards (needs the `veto` capability in ralph.yaml). */
export const veto = (reason) => ({ decision: "veto", reason: String(reason) });
/** Adds notes to the step's packet; they appear in the agent's prompt. */
export const annotate = (...notes) => ({ decision: "annotate", notes: notes.map(String) });
/** Changes the step's steering packet with a JSON Merge Patch (needs `modify`). */
export const modify = (patch) => ({ decision: "modify", patch });
/** One measurement for `metrics(...)`. */
export function metric(name, value, unit = undefined, labels = undefined) {
  const s = { name: String(name), value: Number(value) };
  if (unit !== undefined) s.unit = String(unit);
  if (labels) s.labels = Object.fromEntries(Object.entries(labels).map(([k, v]) => [String(k), String(v)]));
  return s;
}
/** Reports measurements made with `metric(...)`. */
export const metrics = (...samples) => ({ decision: "metrics", samples });

/**
 * Base class of a plugin. `static info` says who it is (`name`, `version`, `description`,
 * `capabilities` it requests: `veto`, `modify`, `notify`; only ralph.yaml grants them);
 * `static hooks` maps hook names to method names (a name or a list of names).
 */
export class Plugin {
  static info = {};
  static hooks = {};

  constructor(config) {
    this.config = config;
  }

  log(message, level = "info") {
    log(message, level);
  }

  /**
   * POSTs `{"text": message}` (a Slack incoming-webhook message) to `url`, else to the
   * plugin's `webhook` setting; needs the `notify` capability.
   */
  sendNotification(message, url = undefined) {
    const target = url ?? this.config.get("webhook");
    if (!target) {
      throw new PluginError("sendNotification needs a URL: pass one or set `webhook` in the plugin's config");
    }
    notify(target, { text: String(message) });
  }

  /** Tells a person: an error line in the journal, and a notification to `webhook` if set. */
  escalate(message) {
    log(`escalation: ${message}`, "error");
    if (this.config.get("webhook")) this.sendNotification(`escalation: ${message}`);
  }
}

// ---- the adapter the component exports (used by the generated entry module) ----------

function kebab(name) {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

function hooksOf(cls) {
  const out = new Map();
  for (const [hook, methods] of Object.entries(cls.hooks ?? {})) {
    const list = Array.isArray(methods) ? methods : [methods];
    for (const m of list) {
      if (typeof cls.prototype[m] !== "function") {
        throw new TypeError(`${cls.name}.hooks names \`${m}\` for \`${hook}\`, but ${cls.name} has no method \`${m}\``);
      }
    }
    out.set(hook, list);
  }
  return out;
}

/** The plugin class a module exports: its default export, or its one `Plugin` subclass. */
export function pluginClass(module, wanted) {
  const isPlugin = (v) => typeof v === "function" && v.prototype instanceof Plugin;
  if (wanted) {
    if (!isPlugin(module[wanted])) throw new TypeError(`\`${wanted}\` is not an exported subclass of Plugin`);
    return module[wanted];
  }
  if (isPlugin(module.default)) return module.default;
  const found = Object.values(module).filter(isPlugin);
  if (found.length !== 1) {
    throw new TypeError(
      `the entry must export one subclass of Plugin (as its default export, or the only one; found ${found.map((c) => c.name).join(", ") || "none"})`,
    );
  }
  return found[0];
}

export function describe(cls) {
  const info = cls.info ?? {};
  return {
    name: info.name ?? kebab(cls.name),
    version: String(info.version ?? "0.1.0"),
    description: info.description ?? "",
    hooks: [...hooksOf(cls).keys()],
    capabilities: (info.capabilities ?? []).map(String),
  };
}

function mergePatch(target, patch) {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out = target !== null && typeof target === "object" && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function merge(answers) {
  const kept = answers.filter((a) => a !== undefined && a !== null);
  for (const d of kept) {
    if (typeof d !== "object" || typeof d.decision !== "string") {
      throw new PluginError(
        `a hook method answered ${JSON.stringify(d)}: answer nothing, veto(...), annotate(...), modify(...) or metrics(...)`,
      );
    }
  }
  const v = kept.find((d) => d.decision === "veto");
  if (v) return v;
  const patches = kept.filter((d) => d.decision === "modify");
  if (patches.length) return { decision: "modify", patch: patches.reduce((acc, d) => mergePatch(acc, d.patch), {}) };
  const notes = kept.filter((d) => d.decision === "annotate").flatMap((d) => d.notes ?? []);
  if (notes.length) return { decision: "annotate", notes };
  const samples = kept.filter((d) => d.decision === "metrics").flatMap((d) => d.samples ?? []);
  if (samples.length) return { decision: "metrics", samples };
  return { decision: "continue" };
}

/** Runs the methods `cls.hooks` names for `hook`; answers the decision as JSON. */
export function call(cls, hook, contextJson) {
  const methods = hooksOf(cls).get(hook) ?? [];
  if (methods.length === 0) return JSON.stringify({ decision: "continue" });
  const plugin = new cls(new Config());
  const context = JSON.parse(contextJson);
  return JSON.stringify(merge(methods.map((m) => plugin[m](context))));
}

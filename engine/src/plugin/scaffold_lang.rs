//! `ralph-loop plugin new --lang python|javascript`: a plugin directory that `ralph-loop
//! plugin build` builds as it is. The guest library is not written into it: the build brings
//! the one of the engine that builds it, so the contract versions always match.

use std::path::{Path, PathBuf};

use super::scaffold::ScaffoldError;
use super::toolchain::{COMPONENTIZE_JS, COMPONENTIZE_PY, JCO};

const PLUGIN_PY: &str = r#""""@NAME@: a ralph-loop plugin.

Build:  ralph-loop plugin build        (writes dist/@NAME@.wasm)
Try:    ralph-loop plugin call dist/@NAME@.wasm phase.before_build --config block=true
"""

from ralph.plugins import Plugin, annotate, hook, veto


class @TYPE@(Plugin):
    """Vetoes builds while its `block` setting is "true", else adds a note."""

    name = "@NAME@"
    version = "0.1.0"
    # What it asks for; only ralph.yaml grants it (`capabilities: [veto]`).
    capabilities = ["veto"]

    def __init__(self, config):
        # The plugin's `config:` from ralph.yaml: values are strings (`${VAR}` resolved);
        # `self.config.json("key")` parses one that is not.
        self.config = config

    @hook("workflow.on_start")
    def on_start(self, context):
        # What a plugin prints goes to the run's journal as its log lines.
        print(f"@NAME@: workflow {context.workflow_name} starts")

    @hook("phase.before_build")
    def before_build(self, context):
        if self.config.get("block") == "true":
            return veto("builds are blocked by @NAME@")
        return annotate(f"Checked by @NAME@ (iteration {context.iteration}).")

    # Other hooks: workflow.on_iteration, workflow.on_complete, workflow.on_failure,
    # phase.before_<phase>, phase.after_<phase>, agent.on_invoke, state.on_change.
    # Answer None to carry on, or veto(...), annotate(...), modify(patch), metrics(...).
"#;

const PYPROJECT: &str = r#"[project]
name = "@NAME@"
version = "0.1.0"
description = "A ralph-loop plugin"
requires-python = ">=3.11"

# `ralph-loop plugin build` builds `plugin.py` with componentize-py @COMPONENTIZE_PY@
# (`python3 -m pip install componentize-py==@COMPONENTIZE_PY@`) into `dist/@NAME@.wasm`.
"#;

const PLUGIN_JS: &str = r#"// @NAME@: a ralph-loop plugin.
//
// Build:  ralph-loop plugin build        (writes dist/@NAME@.wasm)
// Try:    ralph-loop plugin call dist/@NAME@.wasm phase.before_build --config block=true

import { Plugin, annotate, veto } from "ralph/plugins";

/** Vetoes builds while its `block` setting is "true", else adds a note. */
export default class @TYPE@ extends Plugin {
  // Who it is, and what it asks for; only ralph.yaml grants it (`capabilities: [veto]`).
  static info = { name: "@NAME@", version: "0.1.0", capabilities: ["veto"] };
  // The hooks it is called at, and the method called at each.
  static hooks = {
    "workflow.on_start": "onStart",
    "phase.before_build": "beforeBuild",
  };

  onStart(context) {
    // What a plugin prints goes to the run's journal as its log lines.
    console.log(`@NAME@: workflow ${context.workflow_name} starts`);
  }

  beforeBuild(context) {
    // The plugin's `config:` from ralph.yaml: values are strings (`${VAR}` resolved);
    // `this.config.json("key")` parses one that is not.
    if (this.config.get("block") === "true") return veto("builds are blocked by @NAME@");
    return annotate(`Checked by @NAME@ (iteration ${context.iteration}).`);
  }

  // Other hooks: workflow.on_iteration, workflow.on_complete, workflow.on_failure,
  // phase.before_<phase>, phase.after_<phase>, agent.on_invoke, state.on_change.
  // Answer nothing to carry on, or veto(...), annotate(...), modify(patch), metrics(...).
}
"#;

const PACKAGE_JSON: &str = r#"{
  "name": "@NAME@",
  "version": "0.1.0",
  "description": "A ralph-loop plugin",
  "private": true,
  "type": "module",
  "main": "plugin.js",
  "scripts": {
    "build": "ralph-loop plugin build ."
  },
  "devDependencies": {
    "@bytecodealliance/componentize-js": "@COMPONENTIZE_JS@",
    "@bytecodealliance/jco": "@JCO@"
  }
}
"#;

const README: &str = r#"# @NAME@

A ralph-loop plugin in @LANGUAGE@: before every build step it vetoes the step while its `block`
setting is `"true"`, and otherwise adds a note to the builder's prompt.

## Build

```sh
@INSTALL@
ralph-loop plugin build          # in this directory: writes dist/@NAME@.wasm
```

`plugin build` writes the engine's WIT world (`ralph:plugin@1.0.0`) and its guest library
(`@LIBRARY@`) into `build/` and builds the plugin with them, with @TOOL@. A build is cached in
`build/` by the content of the sources, the guest library, the WIT and the toolchain's version:
building an unchanged plugin again takes no time.

## Try it

```sh
ralph-loop plugin info dist/@NAME@.wasm
ralph-loop plugin call dist/@NAME@.wasm phase.before_build --config block=true
```

## Use it

In `ralph.yaml`, point at the source — the run builds it when it starts (and reuses the build
while nothing changed) — or at the built component (a plugin may veto only when it is granted
`veto`):

```yaml
plugins:
  - name: @NAME@
    entry: path/to/@NAME@/@ENTRY@      # or path/to/@NAME@/dist/@NAME@.wasm
    hooks: [phase.before_build]
    capabilities: [veto]
    config:
      block: "false"
```

or install the built component: `ralph-loop plugin install dist/@NAME@.wasm`.

The plugin runs in ralph-loop's sandbox, as every plugin does: no files, no network, no
environment variables; each call has a memory limit, fuel and a deadline, and runs in a fresh
instance (nothing is kept between calls).
"#;

const GITIGNORE_PY: &str = "/build/\n/dist/\n__pycache__/\n";
const GITIGNORE_JS: &str = "/build/\n/dist/\n/node_modules/\n";

/// A language `plugin new` scaffolds besides Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// `plugin.py` and `pyproject.toml`.
    Python,
    /// `plugin.js` and `package.json`.
    JavaScript,
}

fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

fn fill(template: &str, name: &str, lang: Lang) -> String {
    let (language, install, library, tool, entry) = match lang {
        Lang::Python => (
            "Python",
            format!("python3 -m pip install componentize-py=={COMPONENTIZE_PY}   # once"),
            "`ralph.plugins`",
            "componentize-py",
            "plugin.py",
        ),
        Lang::JavaScript => (
            "JavaScript",
            "npm install                      # once: jco and componentize-js, as package.json pins them"
                .to_owned(),
            "`ralph/plugins`",
            "jco and componentize-js",
            "plugin.js",
        ),
    };
    template
        .replace("@NAME@", name)
        .replace("@TYPE@", &type_name(name))
        .replace("@LANGUAGE@", language)
        .replace("@INSTALL@", &install)
        .replace("@LIBRARY@", library)
        .replace("@TOOL@", tool)
        .replace("@ENTRY@", entry)
        .replace("@COMPONENTIZE_PY@", COMPONENTIZE_PY)
        .replace("@COMPONENTIZE_JS@", COMPONENTIZE_JS)
        .replace("@JCO@", JCO)
}

/// The files of a new plugin, relative to its directory.
pub fn files(name: &str, lang: Lang) -> Vec<(PathBuf, String)> {
    let (entry, manifest, ignore) = match lang {
        Lang::Python => (("plugin.py", PLUGIN_PY), ("pyproject.toml", PYPROJECT), GITIGNORE_PY),
        Lang::JavaScript => (("plugin.js", PLUGIN_JS), ("package.json", PACKAGE_JSON), GITIGNORE_JS),
    };
    vec![
        (PathBuf::from(entry.0), fill(entry.1, name, lang)),
        (PathBuf::from(manifest.0), fill(manifest.1, name, lang)),
        (PathBuf::from("README.md"), fill(README, name, lang)),
        (PathBuf::from(".gitignore"), ignore.to_owned()),
    ]
}

/// Writes a new `lang` plugin `name` into `dir` (which must not exist or be empty); answers
/// the files written.
///
/// # Errors
///
/// A name that cannot be a plugin's, a directory in the way, a file that cannot be written.
pub fn scaffold(name: &str, lang: Lang, dir: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    super::scaffold::check(name, dir)?;
    super::scaffold::write(dir, files(name, lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaffolds_name_their_class_and_pin_their_toolchain() {
        let py = files("commit-guard", Lang::Python);
        assert!(
            py[0].1.contains("class CommitGuard(Plugin):") && py[0].1.contains("name = \"commit-guard\"")
        );
        let js = files("commit-guard", Lang::JavaScript);
        assert!(js[0].1.contains("export default class CommitGuard extends Plugin"));
        assert!(js[1].1.contains(&format!("\"@bytecodealliance/jco\": \"{JCO}\"")));
        for (_, text) in py.iter().chain(&js) {
            assert!(!text.contains('@') || !text.contains("@NAME@"), "unfilled template: {text}");
        }
    }
}

"""A hostile Python plugin for the host's tests: its `mode` setting picks the attack.

- `spin`: loops forever (the deadline and the fuel must stop it);
- `bomb`: allocates until memory runs out (the memory limit must stop it);
- `snoop`: tries to read `/etc/passwd`, a file by relative path and the environment,
 , and reports what it found as a note (it must find nothing);
- `veto`: vetoes.
"""

import os

from ralph.plugins import Plugin, annotate, hook, veto


class HostilePy(Plugin):
    name = "hostile-py"
    version = "0.1.0"
    capabilities = ["veto"]

    @hook("phase.before_build")
    def attack(self, context):
        mode = self.config.get("mode")
        if mode == "spin":
            n = 0
            while True:
                n += 1
        if mode == "bomb":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        if mode == "snoop":
            found = []
            for path in ("/etc/passwd", "secret.txt"):
                try:
                    with open(path) as f:
                        found.append(f"{path}: {f.read(64)!r}")
                except OSError as e:
                    print(f"snoop: {path}: {type(e).__name__}")
            secret = os.environ.get("RALPH_TEST_SECRET")
            if secret:
                found.append(f"env: {secret}")
            return annotate(f"snooped: {found}")
        if mode == "veto":
            return veto("the hostile Python plugin says no")
        return None

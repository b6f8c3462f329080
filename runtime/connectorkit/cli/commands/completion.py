"""``connectorkit completion SHELL``: the snippet that turns on tab completion in a shell."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from connectorkit.cli._common import Registry

_SHELLS = ("bash", "zsh", "fish", "tcsh", "powershell")


def register(registry: Registry) -> None:
    """Add ``completion``."""
    sub = registry.add(
        "completion",
        "print the shell code that turns on tab completion (commands, actions, inputs)",
        handler=_completion,
        description=(
            "Print the code that makes SHELL complete connectorkit's commands, options, action "
            "keys and input names. Load it in the running shell, or add the line to its startup "
            "file (~/.bashrc, ~/.zshrc)."
        ),
        examples=[
            'eval "$(connectorkit completion bash)"',
            'eval "$(connectorkit completion zsh)"',
            "connectorkit completion fish | source",
        ],
    )
    sub.add_argument("shell", choices=_SHELLS, metavar="SHELL", help=", ".join(_SHELLS))


def _completion(args: argparse.Namespace) -> int:
    from connectorkit.cli._completion import shell_code  # noqa: PLC0415

    sys.stdout.write(shell_code(args.shell))
    return 0

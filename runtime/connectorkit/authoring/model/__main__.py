"""``python -m connectorkit.authoring.model``: write the generated schemas into ``schemas/``."""

from connectorkit.authoring.model._publish import main

raise SystemExit(main())

"""Functional configs saved by earlier keras-mimo releases, read by this one.

Releases up to commit ad4cbb3 stacked the members' rows member-major and
`MIMOInput.compute_mask` split a mask into members with `keras.ops.split`
(`Split` on axis 0 into `M` sections, on a boolean `Cast`). Saved graphs hold
that op wherever a mask is passed on to a layer's call (an LSTM, attention).
The rows are example-major now: such a `Split` becomes `MemberRows`, which
takes each member's rows as the current layout lays them out.
"""

_MEMBER_ROWS = {
    "module": "keras_mimo.layers.mimo_input",
    "class_name": "MemberRows",
    "registered_name": "keras_mimo>MemberRows",
}


def _is_member_mask_split(entry, bool_casts) -> bool:
    if entry.get("class_name") != "Split" or not str(entry.get("module", "")).startswith("keras.src.ops"):
        return False
    config = entry.get("config", {})
    if config.get("axis") != 0 or not isinstance(config.get("indices_or_sections"), int):
        return False
    nodes = entry.get("inbound_nodes") or []
    args = nodes[0].get("args", []) if len(nodes) == 1 else []
    history = args[0].get("config", {}).get("keras_history") if len(args) == 1 and isinstance(args[0], dict) else None
    return bool(history) and history[0] in bool_casts


def upgrade_config(config: dict) -> dict:
    """`config` (a functional model's) with the member-major mask splits replaced."""
    layers = config.get("layers")
    if not layers:
        return config
    bool_casts = {
        entry["name"]
        for entry in layers
        if entry.get("class_name") == "Cast" and entry.get("config", {}).get("dtype") == "bool"
    }
    upgraded = []
    for entry in layers:
        if _is_member_mask_split(entry, bool_casts):
            sections = entry["config"]["indices_or_sections"]
            entry = {
                **entry,
                **_MEMBER_ROWS,
                "config": {"name": entry["config"].get("name", entry["name"]), "ensemble_size": sections},
            }
        upgraded.append(entry)
    return {**config, "layers": upgraded}

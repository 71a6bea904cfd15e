"""The results as markdown: one summary table, then each scenario's detail."""


def verdict(met):
    return {True: "met", False: "**MISSED**", None: ""}[met]


def summary(sections):
    lines = ["| Measure | Result | Target | |", "|---|---|---|---|"]
    for section in sections:
        if not section["rows"]:
            lines.append(f"| {section['title']} | failed (see below) | | **FAILED** |")
        for row in section["rows"]:
            lines.append(
                f"| {row['metric']} | {row['value']} | {row['target']} | {verdict(row['met'])} |"
            )
    return "\n".join(lines)


def render(meta, sections):
    m = meta["machine"]
    head, changed = meta["code"]
    out = [
        "# Benchmark results",
        "",
        f"Written by `{meta['command'].strip()}` ({meta['mode']}) on {meta['date']}; "
        f"the run took {meta['seconds'] / 60:.1f} min.",
        "",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, Linux {m['kernel']}",
        f"- PostgreSQL {m['postgresql']}, Python {m['python']}, Django {m['django']}, "
        f"django-q2 {m['django-q2']}",
        f"- Code: commit {head}"
        + (f" with uncommitted changes in {', '.join(changed)}" if changed else " (clean)"),
        f"- Load average (1/5/15 min) before: {meta['load_before']}; after: {meta['load_after']}. "
        "The machine is shared (other engineers run test suites on it), so absolute "
        "figures are noisy; every comparison is a ratio measured side by side in the "
        "same run.",
        "",
        "## Summary",
        "",
        summary(sections),
        "",
    ]
    for section in sections:
        out += [f"## {section['title']}", ""]
        if section.get("table"):
            out += section["table"] + [""]
        for note in section.get("notes", []):
            out += [note, ""]
        for title, plan in section.get("plans", []):
            out += [f"**{title}**", "", "```", plan.rstrip(), "```", ""]
        if section.get("seconds"):
            out += [f"_Scenario time: {section['seconds']:.0f} s._", ""]
    return "\n".join(out)

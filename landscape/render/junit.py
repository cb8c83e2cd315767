"""The gate's decisions as JUnit XML: one <testcase> per threshold (CI systems show them)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from landscape.analyses.gate import Decision, GateReport

# Characters XML 1.0 cannot hold (a CI parser rejects the file), and lone surrogates (a file
# name's undecodable bytes, which UTF-8 cannot encode): written as escapes instead.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def junit_xml(report: GateReport) -> bytes:
    """One <testcase> per threshold: <failure> for fail (and undecided unless allowed),
    <error> for numerical failures."""
    failing = report.counts["fail"] + (0 if report.allow_undecided else report.counts["undecided"])
    suite = ET.Element(
        "testsuite",
        name="landscape gate",
        tests=str(len(report.decisions)),
        failures=str(failing),
        errors=str(report.counts["error"]),
        skipped="0",
        time=f"{report.seconds:.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="checkpoint", value=_xml(report.checkpoint))
    if report.distributed is not None:
        world = report.distributed
        shares = ",".join(str(n) for n in world["examples_per_rank"])
        ET.SubElement(properties, "property", name="world_size", value=str(world["world_size"]))
        ET.SubElement(properties, "property", name="examples_per_rank", value=shares)
    for d in report.decisions:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="landscape.gate",
            name=_xml(f"{d.metric} {d.kind} {d.limit:.10g}"),
            time="0",
        )
        text = _xml(f"{d.metric} = {_shown(d)}; {d.kind} {d.limit:.10g} ({d.source}): {d.reason}")
        if d.verdict == "error":
            ET.SubElement(case, "error", message=_xml(d.reason), type="numerical").text = text
        elif d.verdict == "fail" or (d.verdict == "undecided" and not report.allow_undecided):
            ET.SubElement(
                case, "failure", message=_xml(f"{d.verdict}: {d.reason}"), type=d.verdict
            ).text = text
        else:
            ET.SubElement(case, "system-out").text = f"{d.verdict}: {text}"
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n"


def _shown(d: Decision) -> str:
    if d.value is None:
        return "n/a"
    return f"{d.value:.10g}" + ("" if d.error_bound is None else f" ± {d.error_bound:.2g}")


def _xml(text: str) -> str:
    return NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))

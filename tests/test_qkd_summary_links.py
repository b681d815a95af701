"""userwalk2 D7: the summary of a qkd network of many links says how many links and warnings it leaves out, and
names every link without key (they decide the end-to-end key), capped with a count."""

import re

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.scenarios import qkd as qkd_scenario

# 39 links of 800 pulses: blocks so small that about a third of the links get no key (seed 2)
JOB = """[run]
name = "many"
scenario = "qkd"
seed = 2
[qkd]
protocol = "bb84_decoy"
pulses = 800
batch_pulses = 800
[qkd.source]
intensities = [0.5, 0.1, 0.0]
probabilities = [0.8, 0.1, 0.1]
[qkd.link]
distance_km = 10.0
detector_efficiency = 0.8
misalignment = 0.01
[qkd.network]
topology = "chain"
num_nodes = 40
"""


def test_the_summary_counts_the_links_and_warnings_left_out_and_names_every_link_without_key():
    out = qkd_scenario.run_job(load_job_text(JOB), comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    lines = out.summary
    links, blocks = out.tables["links"], out.tables["blocks"]
    shown = qkd_scenario.SUMMARY_LINKS
    assert f"  ... and {len(links) - shown} more links (table links)" in lines
    no_key = sorted({int(link) for link in links["link"]} - {int(b["link"]) for b in blocks if b["secret_key_bits"]})
    late = [link for link in no_key if link >= shown]
    assert len(late) > qkd_scenario.SUMMARY_NO_KEY_LINES  # the job reaches the line of numbers
    named_with_reason = [int(m.group(1)) for line in lines if (m := re.match(r" +10\.0 km link (\d+): no key: ", line))]
    (numbers,) = [line for line in lines if line.startswith("  no key on ")]
    named = [int(n) for n in re.match(r"  no key on \d+ more links: ([\d, ]+) \(", numbers).group(1).split(", ")]
    assert named_with_reason + named == late
    early = sum(1 for line in lines if line.startswith("      no key: "))
    assert early == len(no_key) - len(late)
    shown_warnings = [line for line in lines if line.startswith("  WARNING: ")]
    more = [line for line in lines if re.fullmatch(r"  \.\.\. and [\d,]+ more warnings \(attribute warnings\)", line)]
    assert len(shown_warnings) == qkd_scenario.SUMMARY_WARNINGS and len(more) == 1

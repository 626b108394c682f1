#!/usr/bin/python3
"""Turns Google Benchmark JSON files into docs/benchmarks.md and PNG charts.

Every ratio compares two benchmarks measured in the same process: per process, the median of the
case's repetitions over the median of the reference's; the report quotes the median of those
per-process ratios and their [min-max]. Absolute times are medians too, with the spread (min-max
over every repetition) beside them.
"""
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

# Case names (after the family) that measure a pmrheap resource; the rest are peers and limits.
PMRHEAP_CASE = re.compile(r"arena|fixed_buffer|page_resource|c_resource(?!_mt)|stack_fallback|debug_resource|"
                          r"synchronized_resource")

# family: (title, unit label, divisor of the per-iteration time, reference chooser, note)
FAMILIES = [
    ("small", "1. 2^20 small allocations (8-128 B) through `memory_resource*`, then release", "ns/alloc", 2**20, "inline_bump",
     "Construction and release of the resource are inside each iteration."),
    ("vector", "2. 2^20 `push_back` of `int`", "ns/push_back", 2**20, "std_vector",
     "`buffers`: distinct data() addresses seen while growing; `peak`: bytes held from the upstream or the OS at peak, as a multiple of the 4 MiB payload. "
     "The std cases build their resource each iteration on glibc's warm heap; the arena cases keep one arena and reset it with "
     "retain_capacity after each iteration, as a per-request arena is used (a fresh arena would pay ~2000 page faults per iteration)."),
    ("pages", "3a. Map + unmap pairs (untouched)", "ns/pair", 1, "mmap", "Reference: raw mmap/munmap of the same size."),
    ("aligned", "3b. 2 MiB blocks aligned to 2 MiB", "ns/pair", 1, "hand_trim", "Reference: mmap 4 MiB - 4 KiB, munmap both ends by hand."),
    ("growth", "4. A buffer grown from 4 KiB by doubling, every byte written", "ms/growth", 1e6, "mremap", "Reference: raw mremap(MREMAP_MAYMOVE)."),
    ("c", "5. Allocate + deallocate pairs on the C heap", "ns/pair", 1, "malloc/64/16", "Reference: malloc(64)/free."),
    ("fallback", "6. A small vector of strings on a 4 KiB stack buffer", "ns/build", 1, "std_monotonic_stack",
     "Arguments: number of strings / characters each. Reference: std monotonic_buffer_resource over a stack buffer, new_delete upstream."),
    ("debug", "7. Debug and synchronized wrappers", "ns/pair", 1, "c_resource", "Reference: c_resource allocate + deallocate."),
]

# (description, case, reference, comparison, bound); a ratio case/reference, or a counter check.
TARGETS = [
    ("(1) arena_resource <= 1.15x the minimal virtual bump resource", "small/arena_resource", "small/virtual_bump", "<=", 1.15),
    ("(1) arena_resource <= 0.7x std monotonic", "small/arena_resource", "small/std_monotonic", "<=", 0.7),
    ("(1) arena_resource through its final type <= 1.5x the inline bump pointer", "small/arena_concrete", "small/inline_bump", "<=", 1.5),
    ("(1) fixed_buffer_resource <= 1.15x the minimal virtual bump resource (no target in the issue; ours)", "small/fixed_buffer_resource", "small/virtual_bump", "<=", 1.15),
    ("(2) Boost vector on virtual_arena_resource: time <= plain std::vector", "vector/boost_virtual_arena", "vector/std_vector", "<=", 1.0),
    ("(2) Boost vector on arena_resource: time <= std::pmr::vector on monotonic", "vector/boost_arena", "vector/pmr_vector_monotonic", "<=", 1.0),
    ("(3) page_resource 4 KiB <= 1.1x raw mmap/munmap", "pages/page_resource/4096", "pages/mmap/4096", "<=", 1.1),
    ("(3) page_resource 64 KiB <= 1.1x raw mmap/munmap", "pages/page_resource/65536", "pages/mmap/65536", "<=", 1.1),
    ("(3) page_resource 1 MiB <= 1.1x raw mmap/munmap", "pages/page_resource/1048576", "pages/mmap/1048576", "<=", 1.1),
    ("(3) page_resource 16 MiB <= 1.1x raw mmap/munmap", "pages/page_resource/16777216", "pages/mmap/16777216", "<=", 1.1),
    ("(3) 2 MiB-aligned page_resource <= 1.1x hand-written trim", "aligned/page_resource", "aligned/hand_trim", "<=", 1.1),
    ("(4) reallocate on page_resource <= 1.1x raw mremap", "growth/page_resource", "growth/mremap", "<=", 1.1),
    ("(4) reallocate on page_resource >= 1.8x faster than allocate + copy + free", "growth/allocate_copy_free", "growth/page_resource", ">=", 1.8),
    ("(4) with huge-page advice <= 0.5x raw mremap without it", "growth/page_resource_huge", "growth/mremap", "<=", 0.5),
    ("(5) c_resource <= 1.1x malloc/free (alignment 16)", "c/c_resource/64/16", "c/malloc/64/16", "<=", 1.1),
    ("(5) c_resource at alignment 64 <= 2x malloc", "c/c_resource/64/64", "c/malloc/64/16", "<=", 2.0),
    ("(6) stack_fallback_resource <= 1.0x the std monotonic-on-stack idiom (10 short strings)", "fallback/stack_fallback/10/9", "fallback/std_monotonic_stack/10/9", "<=", 1.0),
    ("(6) the same, 10 strings of 28 chars", "fallback/stack_fallback/10/28", "fallback/std_monotonic_stack/10/28", "<=", 1.0),
    ("(6) the same, 100 strings of 28 chars (spills)", "fallback/stack_fallback/100/28", "fallback/std_monotonic_stack/100/28", "<=", 1.0),
    ("(6) the same, spilling into an arena_resource instead of new_delete (ours)", "fallback/stack_fallback_arena/100/28", "fallback/std_monotonic_stack/100/28", "<=", 1.0),
    ("(7) debug_resource, traces off <= 3x c_resource", "debug/debug_resource_notrace", "debug/c_resource", "<=", 3.0),
    ("(7) the same with quarantine and fills off too (the table and canaries only)", "debug/debug_resource_minimal", "debug/c_resource", "<=", 3.0),
    ("(7) the same with thread_safe off instead (no lock; quarantine and fills on)", "debug/debug_resource_single_thread", "debug/c_resource", "<=", 3.0),
]
COUNTER_TARGETS = [
    ("(2) Boost vector on virtual_arena_resource never moves (1 buffer)", "vector/boost_virtual_arena", "buffers", "<=", 1.0),
    ("(2) Boost vector on virtual_arena_resource: peak <= 1.05x payload", "vector/boost_virtual_arena", "peak_ratio", "<=", 1.05),
]

# Why a target can be missed, with the figures that show it: case -> text(r), where r(case, ref)
# formats that same-process ratio. Printed for missed targets only.
LIMITS = {
    "small/arena_resource": lambda r: (
        f"the minimal virtual bump resource (one virtual call and a bump: no checks, no growth, no release) "
        f"measures {r('small/virtual_bump', 'small/std_monotonic')} of std monotonic, so a bound near 0.7x sits at "
        f"the floor of the `memory_resource*` interface. arena_resource is "
        f"{r('small/arena_resource', 'small/virtual_bump')} of that floor, and through its final type "
        f"{r('small/arena_concrete', 'small/std_monotonic')} of std monotonic."),
    "small/fixed_buffer_resource": lambda r: (
        f"fixed_buffer_resource checks the alignment on every call (the virtual bump checks nothing): "
        f"{r('small/fixed_buffer_resource', 'small/virtual_bump')} "
        f"of the virtual bump, {r('small/fixed_buffer_resource', 'small/std_monotonic')} of std monotonic."),
    "vector/boost_virtual_arena": lambda r: (
        f"Boost's push_back itself: a plain boost::container::vector with its default allocator is "
        f"{r('vector/boost_vector_plain', 'vector/std_vector')} of std::vector. On virtual_arena_resource the Boost "
        f"vector is {r('vector/boost_virtual_arena', 'vector/boost_vector_plain')} of the plain Boost vector: growing "
        f"in place removes every move, Boost's per-element path remains."),
    "vector/boost_arena": lambda r: (
        f"the same Boost push_back: {r('vector/boost_arena', 'vector/boost_vector_plain')} of the plain Boost vector, "
        f"{r('vector/pmr_vector_arena', 'vector/pmr_vector_monotonic')} for std::pmr::vector on the arena against "
        f"monotonic."),
    "pages/page_resource/1048576": lambda r: (
        f"raw mmap placed where page_resource places it (just below the previous mapping) measures "
        f"{r('pages/mmap_hinted/1048576', 'pages/mmap/1048576')} of unhinted mmap, and page_resource "
        f"{r('pages/page_resource/1048576', 'pages/mmap_hinted/1048576')} of that. A pair is a 3-5 us system-call "
        f"round trip here, and a profile of page_resource's pairs (perf, cpu-clock) is all kernel time: the VMA "
        f"tree, page-table teardown, the TLB flush. What differs is where the mapping lands (the hint keeps freed "
        f"addresses from coming straight back, docs/platform/pages.md), not work done by pmrheap."),
    "pages/page_resource/4096": lambda r: (
        f"as for 1 MiB (below): hinted raw mmap {r('pages/mmap_hinted/4096', 'pages/mmap/4096')} of unhinted, "
        f"page_resource {r('pages/page_resource/4096', 'pages/mmap_hinted/4096')} of hinted."),
    "pages/page_resource/65536": lambda r: (
        f"as for 1 MiB (below): hinted raw mmap {r('pages/mmap_hinted/65536', 'pages/mmap/65536')} of unhinted, "
        f"page_resource {r('pages/page_resource/65536', 'pages/mmap_hinted/65536')} of hinted."),
    "pages/page_resource/16777216": lambda r: (
        f"as for 1 MiB: hinted raw mmap {r('pages/mmap_hinted/16777216', 'pages/mmap/16777216')} of unhinted, "
        f"page_resource {r('pages/page_resource/16777216', 'pages/mmap_hinted/16777216')} of hinted."),
    "growth/page_resource_huge": lambda r: (
        f"the advice does what it should once the memory is there: the fastest repetition is "
        f"{r('growth/page_resource_huge', 'growth/mremap', True)} of raw mremap's median, and raw mremap with the same "
        f"madvise(MADV_HUGEPAGE) measures {r('growth/mremap_huge', 'growth/mremap')} (page_resource_huge is "
        f"{r('growth/page_resource_huge', 'growth/mremap_huge')} of it). The first huge-page growth after a pause of a "
        f"few seconds costs 2-3 s instead of 80 ms, and back-to-back ones do not: consistent with this VM's "
        f"hypervisor taking back free guest memory in 2 MiB blocks (free page reporting), so huge pages are "
        f"faulted in from the host again while 4 KiB pages come from recently freed memory. With random interleaving most huge-page repetitions follow such a "
        f"pause; the guest's /proc/vmstat shows no THP fallbacks and no compaction stalls."),
    "c/c_resource/64/16": lambda r: (
        f"any `memory_resource*` in front of malloc pays two indirect calls: std::pmr::new_delete_resource() "
        f"measures {r('c/new_delete/64/16', 'c/malloc/64/16')} of malloc/free, and c_resource "
        f"{r('c/c_resource/64/16', 'c/new_delete/64/16')} of new_delete_resource."),
    "fallback/stack_fallback/10/9": lambda r: (
        "stack_fallback_resource reclaims the vector's freed buffers where monotonic never frees; the check is "
        "inline, the difference a few ns per build."),
    "fallback/stack_fallback/10/28": lambda r: (
        "as for 9-char strings: the reclaim on every deallocate is the difference."),
    "fallback/stack_fallback/100/28": lambda r: (
        f"past the 4 KiB buffer every block is one call to the fallback (new_delete: malloc and free), while "
        f"monotonic takes one chunk and bumps. With an arena_resource as the fallback the same build measures "
        f"{r('fallback/stack_fallback_arena/100/28', 'fallback/std_monotonic_stack/100/28')}."),
    "fallback/stack_fallback_arena/100/28": lambda r: (
        f"the arena's first nodes are small (1 KiB, then x1.5) where monotonic's first chunk after a 4 KiB buffer "
        f"is larger, so the arena calls new_delete a few more times per build; stack_fallback over new_delete is "
        f"{r('fallback/stack_fallback/100/28', 'fallback/std_monotonic_stack/100/28')}."),
    "debug/debug_resource_notrace": lambda r: (
        f"with traces off a pair is the checks' own work: a table insert, find and erase, the fills and their "
        f"checks, the quarantine's ring (docs/testing/debug_resource.md, \"Costs\": 341 instructions against 185 "
        f"for a c_resource pair). The lock is plain stores while one thread uses the resource; with thread_safe "
        f"off: {r('debug/debug_resource_single_thread', 'debug/c_resource')}."),
    "debug/debug_resource_minimal": lambda r: (
        f"with no quarantine there is no spare (the block leaving the quarantine, which serves the next "
        f"allocation of its size), so every pair also pays the backing's pair; with the quarantine and fills on: "
        f"{r('debug/debug_resource_notrace', 'debug/c_resource')}."),
    "debug/debug_resource_single_thread": lambda r: (
        f"the table, the fills and their checks and the quarantine's ring remain (296 instructions a pair "
        f"against 185 for c_resource, docs/testing/debug_resource.md, \"Costs\")."),
}

TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(results_dir):
    """{run: {name: {"times": [ns...], "counters": {...}}}} and one context."""
    runs = defaultdict(lambda: defaultdict(lambda: {"times": [], "counters": {}}))
    context = {}
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        run = path.rsplit(".", 2)[-2]
        with open(path) as f:
            data = json.load(f)
        context = data.get("context", context)
        for b in data["benchmarks"]:
            if b.get("run_type") != "iteration" or b.get("error_occurred"):
                continue
            # Drop Google Benchmark's run-setting suffixes ("/iterations:1", "/real_time").
            # One thread is the default and goes; other thread counts stay ("/threads:2").
            name = re.sub(r"/(iterations|repeats|min_time):[^/]*|/threads:1(?=/|$)|/real_time|/manual_time", "",
                          b["run_name"])
            entry = runs[run][name]
            entry["times"].append(b["real_time"] * TO_NS[b.get("time_unit", "ns")])
            for k in ("buffers", "peak_bytes", "payload_bytes"):
                if k in b:
                    entry["counters"][k] = b[k]
    return runs, context


def family_of(name):
    return name.split("/", 1)[0]


def per_run_medians(runs, name):
    return [statistics.median(r[name]["times"]) for r in runs.values() if name in r and r[name]["times"]]


def ratio(runs, case, ref):
    values = []
    for r in runs.values():
        if case in r and ref in r and r[case]["times"] and r[ref]["times"]:
            values.append(statistics.median(r[case]["times"]) / statistics.median(r[ref]["times"]))
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def ratio_text(runs, case, ref, best=False):
    """The same-process ratio as text; with best, the fastest repetition of `case` over the median
    of `ref` in its process (the best over processes)."""
    if best:
        values = [min(r[case]["times"]) / statistics.median(r[ref]["times"])
                  for r in runs.values() if case in r and ref in r and r[case]["times"] and r[ref]["times"]]
        return f"{min(values):.2f}x" if values else f"(not measured: `{case}` / `{ref}`)"
    r = ratio(runs, case, ref)
    return f"{r[0]:.2f}x [{r[1]:.2f}-{r[2]:.2f}]" if r else f"(not measured: `{case}` / `{ref}`)"


def reference_for(name, ref):
    """The reference of `name`: the family's reference with the same arguments where it has them;
    for a multi-threaded case, the reference's multi-threaded variant (`<ref>_mt/threads:N`)."""
    fam, rest = name.split("/", 1)
    if "/threads:" in name:
        return f"{fam}/{ref}_mt/{name.rsplit('/', 1)[1]}"
    if "/" in ref:
        return f"{fam}/{ref}"
    args = rest.split("/", 1)[1] if "/" in rest else ""
    return f"{fam}/{ref}" + (f"/{args}" if args else "")


def fmt_time(ns, div):
    v = ns / div
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def machine(context):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    try:
        gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        gxx = "g++"
    return (f"{cpu}, {context.get('num_cpus', os.cpu_count())} CPUs, Linux {platform.release()}; {gxx}, "
            f"-O3 release build (meson buildtype=release); Google Benchmark from Debian's package, whose own "
            f"library reports a {context.get('library_build_type', '?')} build (the framework's timing loop, not the "
            f"code measured); date {context.get('date', '?')}")


def chart(runs, names, ref, fam, path, unit_title):
    rows = []
    for n in names:
        r = ratio(runs, n, reference_for(n, ref))
        if r:
            rows.append((n.split("/", 1)[1], r))
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    labels = [r[0] for r in rows]
    med = [r[1][0] for r in rows]
    lo = [r[1][0] - r[1][1] for r in rows]
    hi = [r[1][2] - r[1][0] for r in rows]
    ours = [bool(PMRHEAP_CASE.search(label)) for label in labels]
    colors = ["#c0504d" if o else "#4a7ab5" for o in ours]
    ax.barh(labels, med, xerr=[lo, hi], color=colors, capsize=3)
    ax.legend(handles=[Patch(color="#c0504d", label="pmrheap"), Patch(color="#4a7ab5", label="peer, limit or reference")],
              loc="lower right", fontsize="small")
    ax.axvline(1.0, color="grey", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel(f"time / reference ({unit_title}); whiskers: min-max over processes")
    # A log axis only where the ratios span a wide range; its labels read badly on a narrow one.
    if max(r[1][2] for r in rows) / min(r[1][1] for r in rows) > 8:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    else:
        ax.set_xlim(left=0)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def main():
    results_dir, out_dir = sys.argv[1], sys.argv[2]
    quick = "--quick" in sys.argv
    runs, context = load(results_dir)
    names = sorted({n for r in runs.values() for n in r})
    chart_dir = os.path.join(out_dir, "bench")
    os.makedirs(chart_dir, exist_ok=True)

    lines = ["# Benchmarks", "",
             "Generated by `./scripts/bench`" + (" --quick (short runs: indicative only)" if quick else "") +
             f" from {len(runs)} process(es) per benchmark executable; do not edit by hand. The targets of "
             "the 0.2 resources are in [benchmarks-0.2.md](benchmarks-0.2.md).", "",
             f"Machine: {machine(context)}.", "",
             "How to read: each benchmark runs with random interleaving of its repetitions, pinned to one core. "
             "**median** is the median over processes of each process's median; **spread** is min-max over all "
             "repetitions; **ratio** is the median over processes of (case median / reference median in the same "
             "process), with [min-max] over processes. The machine is a shared 2-vCPU VM: absolute times move by "
             "1.5x between runs; ratios are the numbers to quote.", ""]

    lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for desc, case, ref, op, bound in TARGETS:
        r = ratio(runs, case, ref)
        if r is None:
            lines.append(f"| {desc} | not measured: `{case}` or `{ref}` missing | - |")
            continue
        met = r[0] <= bound if op == "<=" else r[0] >= bound
        lines.append(f"| {desc} | {r[0]:.2f}x [{r[1]:.2f}-{r[2]:.2f}] | {'yes' if met else '**no**'} |")
    for desc, case, counter, op, bound in COUNTER_TARGETS:
        vals = [r[case]["counters"] for r in runs.values() if case in r]
        if not vals:
            lines.append(f"| {desc} | not measured: `{case}` missing | - |")
            continue
        c = vals[0]
        v = c.get("peak_bytes", 0) / c["payload_bytes"] if counter == "peak_ratio" else c.get(counter, 0)
        met = v <= bound if op == "<=" else v >= bound
        lines.append(f"| {desc} | {v:.3g} | {'yes' if met else '**no**'} |")
    lines.append("")

    missed_notes = []
    for desc, case, ref, op, bound in TARGETS:
        r = ratio(runs, case, ref)
        if r is None or (r[0] <= bound if op == "<=" else r[0] >= bound) or case not in LIMITS:
            continue
        missed_notes.append(f"- **{desc}**: {LIMITS[case](lambda c, f, best=False: ratio_text(runs, c, f, best))}")
    if missed_notes:
        lines += ["### What limits the missed targets", "",
                  "Each figure below is a same-process ratio from this run, computed by the report script.", ""]
        lines += missed_notes + [""]

    for fam, title, unit, div, ref, note in FAMILIES:
        fam_names = [n for n in names if family_of(n) == fam]
        fam_names.sort(key=lambda n: (n != reference_for(n, ref), n))
        if not fam_names:
            continue
        lines += [f"## {title}", "", note, ""]
        has_counters = any(runs[r][n]["counters"] for r in runs for n in fam_names if n in runs[r])
        head = f"| case | median {unit} | spread | ratio vs reference |"
        sep = "|---|---:|---|---:|"
        if has_counters:
            head += " buffers | peak / payload |"
            sep += "---:|---:|"
        lines += [head, sep]
        for n in fam_names:
            meds = per_run_medians(runs, n)
            every = [t for r in runs.values() if n in r for t in r[n]["times"]]
            rref = reference_for(n, ref)
            rr = ratio(runs, n, rref)
            rtxt = "reference" if n == rref else (f"{rr[0]:.2f}x [{rr[1]:.2f}-{rr[2]:.2f}]" if rr else "-")
            row = (f"| `{n.split('/', 1)[1]}` | {fmt_time(statistics.median(meds), div)} | "
                   f"{fmt_time(min(every), div)}-{fmt_time(max(every), div)} | {rtxt} |")
            if has_counters:
                c = next((r[n]["counters"] for r in runs.values() if n in r), {})
                if c:
                    row += f" {c.get('buffers', 0):.0f} | {c.get('peak_bytes', 0) / c['payload_bytes']:.2f}x |"
                else:
                    row += " - | - |"
            lines.append(row)
        png = f"{fam}.png"
        if chart(runs, fam_names, ref, fam, os.path.join(chart_dir, png), unit):
            lines += ["", f"![{fam}](bench/{png})"]
        lines.append("")

    with open(os.path.join(out_dir, "benchmarks.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""What machine a figure was measured on: CPU model, instruction-set class, cores, versions.

int8 and fp32 speed ratios differ a lot between x86 CPUs with and without AVX-512/VNNI (and
between ARM cores with and without dot-product instructions), so every reported figure carries
the CPU's class.
"""

from __future__ import annotations

import os
import platform

# The instruction-set extensions that decide int8 and fp32 kernel choice, as /proc/cpuinfo names them.
X86_ISA = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8")
ARM_ISA = {"asimd": "neon", "asimddp": "dotprod", "i8mm": "i8mm", "sve": "sve"}


def parse_cpuinfo(text: str) -> tuple[str | None, set[str]]:
    """(model name, flags) from the text of /proc/cpuinfo (x86 "flags", ARM "Features")."""
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware") and value.strip():
            model = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    return model, flags


def _cpuinfo() -> tuple[str, set[str]]:
    try:
        with open("/proc/cpuinfo") as handle:
            model, flags = parse_cpuinfo(handle.read())
    except OSError:
        model, flags = None, set()
    return model or platform.processor() or platform.machine(), flags


def isa_from_flags(flags: set[str]) -> list[str]:
    """The relevant extensions among CPU flags, in `X86_ISA` order, else ARM's (`ARM_ISA` labels)."""
    x86 = [name for name in X86_ISA if name in flags]
    arm = [label for flag, label in ARM_ISA.items() if flag in flags]
    return x86 or arm


def cpu_isa() -> list[str]:
    """The CPU's relevant instruction-set extensions, e.g. ["avx2"] or ["avx2", "avx512f", "avx512_vnni"]."""
    return isa_from_flags(_cpuinfo()[1])


def cpu_class(isa: list[str] | None = None) -> str:
    """A short name for the CPU's class (this machine's, or that of `isa`): "AVX-512+VNNI",
    "AVX-512 (no VNNI)", "AVX2 (no AVX-512/VNNI)", "AVX2+AVX-VNNI", "ARM dotprod+i8mm", ...
    ("unknown" where nothing is known)."""
    isa = set(cpu_isa() if isa is None else isa)
    if "avx512f" in isa:
        return "AVX-512+VNNI" if "avx512_vnni" in isa else "AVX-512 (no VNNI)"
    if "avx2" in isa:
        return "AVX2+AVX-VNNI" if "avx_vnni" in isa else "AVX2 (no AVX-512/VNNI)"
    if "neon" in isa:
        return "ARM " + "+".join(sorted(isa - {"neon"}) or ["neon"])
    return "unknown"


def machine_description() -> str:
    """One line naming the CPU model and class, cores and Python/TensorFlow versions."""
    import tensorflow as tf

    model, _ = _cpuinfo()
    return (f"{model} [{cpu_class()}: {', '.join(cpu_isa()) or 'no ISA flags read'}], {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, TensorFlow {tf.__version__}")

"""CPU class detection from /proc/cpuinfo text, and the artifact recommendation rule."""

from edge.recommend import is_float, recommend
from keras_airn.machine import cpu_class, isa_from_flags, parse_cpuinfo

ZEN3 = "processor : 0\nmodel name : AMD EPYC 7B13\nflags : fpu sse2 avx avx2 fma bmi2\n"
ZEN4 = "model name : AMD EPYC 9B14\nflags : avx2 fma avx512f avx512bw avx512_vnni avx512_bf16\n"
ALDER_LAKE = "model name : 12th Gen Intel(R) Core(TM) i7\nflags : avx2 fma avx_vnni\n"
SAPPHIRE_RAPIDS = "model name : Intel(R) Xeon(R) Platinum 8480\nflags : avx2 avx512f avx512_vnni amx_int8\n"
PIXEL = "processor : 0\nFeatures : fp asimd evtstrm aes crc32 atomics asimddp i8mm\nHardware : Tensor G2\n"


def test_cpu_class_from_cpuinfo_text():
    expected = {
        ZEN3: (["avx2"], "AVX2 (no AVX-512/VNNI)"),
        ZEN4: (["avx2", "avx512f", "avx512_vnni", "avx512_bf16"], "AVX-512+VNNI"),
        ALDER_LAKE: (["avx2", "avx_vnni"], "AVX2+AVX-VNNI"),
        SAPPHIRE_RAPIDS: (["avx2", "avx512f", "avx512_vnni", "amx_int8"], "AVX-512+VNNI"),
        PIXEL: (["neon", "dotprod", "i8mm"], "ARM dotprod+i8mm"),
    }
    for text, (isa, machine_class) in expected.items():
        model, flags = parse_cpuinfo(text)
        assert isa_from_flags(flags) == isa and cpu_class(isa) == machine_class, text
        assert model
    assert cpu_class([]) == "unknown"


def _rows(*medians):
    return [{"artifact": f"a{i}", "median_ms": m} for i, m in enumerate(medians)]


def test_recommend_takes_the_fastest_that_agrees():
    paths = ["m_fp32.tflite", "m_int8.tflite", "m.onnx", "m_int8.onnx"]
    agreement = {paths[0]: 1.0, paths[1]: 0.969, paths[2]: 1.0, paths[3]: 0.99}
    choice = recommend(_rows(80.0, 40.0, 77.0, 47.0), paths, agreement)
    # int8 LiteRT is fastest but disagrees on 3.1 % of clips: ONNX int8 is the pick.
    assert choice["artifact"] == "a3" and choice["agreement"] == 0.99 and "a1" in choice["reason"]
    assert recommend(_rows(80.0, 40.0, 77.0, 47.0), paths, agreement, threshold=0.95)["artifact"] == "a1"
    unknown = recommend(_rows(5.0), ["x_int8.tflite"], {"x_int8.tflite": None})
    assert unknown["artifact"] is None and "98%" in unknown["reason"]
    assert [is_float(p) for p in paths] == [True, False, True, False]

"""A smoke run of the benchmarks, so they never rot: it checks they run and produce numbers,
never how fast anything is."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from benchmarks import device, driver, memory, prefilled, scaling, series, transport
from benchmarks.__main__ import SUITES
from benchmarks.harness import Result, interleaved_samples, table
from ccdpc import checksum


def assert_numbers(results: list[Result], names: list[str]) -> None:
    assert [r.name for r in results] == names
    for result in results:
        assert result.project > 0 and math.isfinite(result.project), result
        if result.baseline is not None:
            assert result.baseline > 0 and math.isfinite(result.baseline), result
            assert result.ratio is not None and result.ratio > 0, result
    rendered = table(results)
    assert all(name in rendered for name in names)


def test_every_suite_is_registered() -> None:
    assert set(SUITES) == {
        "transport", "driver", "prefilled", "device", "memory", "scaling", "series", "sardana",
    }  # fmt: skip


def test_transport_benchmark_runs_and_reports_numbers() -> None:
    assert_numbers(
        transport.run(quick=True),
        ["recvfixed 2.86 MB, loopback", "select + concatenation (2009), loopback"],
    )


def test_driver_benchmark_runs_and_reports_numbers() -> None:
    names = []
    for protocol in (1, 2, 3):
        names.append(f'command("STATUS") round trip, gen {protocol}')
        for crc in checksum.CRC32S if protocol == 3 else [""]:
            which = f" (CRC-32: {crc})" if crc else ""
            names += [
                f"read_frame 2.86 MB, gen {protocol}{which}",
                f"read_frame(into=buffer) 2.86 MB, gen {protocol}{which}",
            ]
        if protocol == 3:
            names += [
                f"raw recv_into + {crc} crc32 of the same bytes (context), gen 3"
                for crc in checksum.CRC32S
            ]
        names.append(
            f"read_frame(into=buffer) 2.86 MB with a progress hook vs without (context), "
            f"gen {protocol}"
        )
    names += [
        f"client CPU per read_frame(into=buffer) 2.86 MB vs raw recv_into + {crc} crc32 "
        "(context), gen 3"
        for crc in checksum.CRC32S
    ]
    names.append(
        "client CPU per read_frame(into=buffer) 2.86 MB with a progress hook vs without, gen 3"
    )
    assert_numbers(driver.run(quick=True), names)


def test_prefilled_benchmark_runs_and_reports_numbers() -> None:
    assert_numbers(
        prefilled.run(quick=True),
        [
            f'client CPU per command("STATUS"), answers already waiting (context), gen {p}'
            for p in (1, 2, 3)
        ],
    )


def test_memory_benchmark_runs_and_reports_numbers() -> None:
    results = memory.run(quick=True)
    assert_numbers(
        results,
        [f"RSS after 200 commands + 5 frames of 2.86 MB, gen {p}" for p in (1, 2, 3)],
    )
    assert all(r.growth is not None and math.isfinite(r.growth) for r in results)


@pytest.mark.parametrize(
    ("suite", "names"),
    [
        (
            device.run,
            [
                "Tango Receive of 2.86 MB already in the inbox vs bare command, gen 3",
                "Tango Frame attribute (1242x1152 uint16) vs bare image attribute, gen 3",
            ]
            + [
                "end to end, binned 0.72 MB frames via Send(READ)+2 Receive "
                f"(no Frame attr.), gen {p}"
                for p in (1, 2, 3)
            ],
        ),
        (
            scaling.run,
            [
                "16 CCDPC devices in one server, binned frames/s per device vs 1 device, gen 3",
                "16 CCDPC devices in one server, binned frames/s in all vs 1 device (context)",
                "16 CCDPC devices in one server, each paced at 10 binned frames/s: frames/s per "
                "device vs 1 device, gen 3",
                "16 CCDPC devices in one server, each paced at 10 binned frames/s on one "
                "trigger: 90th percentile ms per fetch vs 1 device",
                "16 CCDPC devices in one server, each paced at 10 binned frames/s, free-running "
                "(random phases): 90th percentile ms per fetch vs 1 device",
                "16 CCDPC devices in one server, each paced at 10 binned frames/s: CPU ms per "
                "fetch, all processes, vs 1 device (context)",
                "16 bare PyTango devices in one server, each paced at 10 0.72 MB calls/s on one "
                "trigger: 90th percentile ms per call vs 1 (context)",
                "16 bare PyTango devices in one server, 0.72 MB calls/s per device vs 1 (context)",
                "16 bare PyTango devices in one server, 0.72 MB calls/s in all vs 1 (context)",
            ],
        ),
    ],
    ids=["device", "scaling"],
)
def test_tango_benchmarks_run_and_report_numbers(
    suite: Callable[..., list[Result]], names: list[str]
) -> None:
    assert_numbers(suite(quick=True), names)


def test_series_benchmark_runs_and_reports_numbers() -> None:
    results = series.run(quick=True)
    how = "(NeXus, metadata, disk claimed per frame), 5 binned frames"
    assert_numbers(
        results,
        [
            "5-frame binned series, gen 3: AUTO_FRAME HDF5 saving vs no saving",
            f"HDF5 writer {how}, no filter, vs h5py write_direct_chunk",
            f"HDF5 writer {how}, bitshuffle+LZ4, vs h5py through the same filter",
            "server RSS during a 10-frame AUTO_FRAME HDF5 series, BufferFrames 16",
        ],
    )
    assert results[-1].growth is not None and math.isfinite(results[-1].growth)


def test_targets_are_judged_in_their_direction() -> None:
    assert Result("t", "MB/s", 100.0, 96.0, ">= 0.95x").met is True
    assert Result("t", "MB/s", 100.0, 90.0, ">= 0.95x").met is False
    assert Result("t", "s", 1.0, 1.1, "<= 1.2x").met is True
    assert Result("t", "s", 1.0, 1.3, "<= 1.2x").met is False
    assert Result("t", "frames/s", None, 150.0, ">= 100").met is True
    assert Result("t", "MB/s", 1.0, 2.0).met is None


def test_memory_growth_is_judged_on_the_difference() -> None:
    grew = Result("t", "MB", 80.0, 95.0, "growth < 10")
    assert (grew.growth, grew.met) == (15.0, False)
    assert Result("t", "MB", 80.0, 84.0, "growth < 10").met is True
    assert "+4" in table([Result("t", "MB", 80.0, 84.0, "growth < 10")])


def test_interleaved_samples_take_turns() -> None:
    calls: list[str] = []

    def measure(name: str, values: list[float]) -> Callable[[], float]:
        def run() -> float:
            calls.append(name)
            return values.pop(0)

        return run

    samples = interleaved_samples(
        measure("a", [3.0, 1.0, 2.0]), measure("b", [10.0, 30.0, 20.0]), rounds=3
    )
    assert calls == ["a", "b"] * 3
    assert samples == [[3.0, 1.0, 2.0], [10.0, 30.0, 20.0]]


def test_paired_figures_keep_the_spread_of_the_ratios_round_by_round() -> None:
    result = Result.paired(
        "t", "µs", [100.0, 100.0, 50.0, 100.0, 100.0], [110.0, 120.0, 70.0, 130.0, 150.0], "<= 1.2x"
    )
    assert (result.baseline, result.project) == (100.0, 120.0)  # the medians
    # Ratios by round 1.1, 1.2, 1.4, 1.3, 1.5: the median is 1.3, the middle half 1.2-1.4; the
    # ratio of the medians (1.2) would have met the target by pairing round 2 with round 4.
    assert result.ratio == pytest.approx(1.3) and result.met is False
    assert result.spread == pytest.approx((1.2, 1.4))
    assert "| 1.300 (1.20-1.40) |" in table([result])
    assert Result.paired("t", "µs", [1.0], [2.0]).spread is None  # one round: no spread
    with pytest.raises(ValueError):
        Result.paired("t", "µs", [1.0, 2.0], [1.0])  # rounds are paired

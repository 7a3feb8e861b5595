from pathlib import Path

from fastvideo_ui.jobs.logs import LogBook


def test_after_and_limit(tmp_path: Path) -> None:
    book = LogBook(tmp_path)
    book.append_lines("j", [f"line {i}" for i in range(10)])
    assert book.read("j", 0) == ([f"line {i}" for i in range(10)], 10)
    assert book.read("j", 7) == (["line 7", "line 8", "line 9"], 10)
    assert book.read("j", 3, limit=2) == (["line 3", "line 4"], 10)
    assert book.read("j", 10) == ([], 10)
    assert book.read("j", 99) == ([], 10)
    assert book.read("missing", 0) == ([], 0)


def test_growing_file_and_partial_line(tmp_path: Path) -> None:
    book = LogBook(tmp_path)
    book.append_lines("j", ["a", "b"])
    assert book.read("j", 0) == (["a", "b"], 2)
    with open(book.path("j"), "a") as handle:
        handle.write("half a li")  # not yet a line
    assert book.read("j", 0) == (["a", "b"], 2)
    with open(book.path("j"), "a") as handle:
        handle.write("ne\nc\n")
    assert book.read("j", 1) == (["b", "half a line", "c"], 4)


def test_large_log_index_is_a_seek(tmp_path: Path) -> None:
    book = LogBook(tmp_path)
    book.append_lines("j", [f"{i:07d} " + "x" * 100 for i in range(200_000)])
    lines, total = book.read("j", 199_998)
    assert total == 200_000
    assert [line[:7] for line in lines] == ["0199998", "0199999"]
    # a fresh book (a restarted server) indexes the existing file
    assert LogBook(tmp_path).read("j", 123_456, limit=1)[0][0].startswith("0123456")


def test_newlines_inside_a_line_cannot_shift_indexes(tmp_path: Path) -> None:
    book = LogBook(tmp_path)
    book.append_lines("j", ["one\ntwo"])
    assert book.read("j", 0) == (["one two"], 1)


def test_concurrent_first_reads_build_one_index(tmp_path: Path) -> None:
    # Two tabs on one log were enough to index its lines twice, for good.
    import threading

    book = LogBook(tmp_path)
    book.append_lines("j", [f"line {i}" for i in range(200_000)])
    for trial in range(3):
        book._indexes.clear()
        start = threading.Barrier(8)
        totals: list[int] = []

        def first_read(start: threading.Barrier = start, totals: list[int] = totals) -> None:
            start.wait()
            totals.append(book.read("j", 0, limit=1)[1])

        threads = [threading.Thread(target=first_read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert totals == [200_000] * 8, trial
        assert book.read("j", 199_999) == (["line 199999"], 200_000)


def test_only_newlines_end_lines_as_the_index_counts_them(tmp_path: Path) -> None:
    # str.splitlines() also breaks at these; the index counts "\n" only, so a
    # line holding one of them made paging by `after` skip lines.
    breakers = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r\n"]
    book = LogBook(tmp_path)
    lines = [f"line {i} {char}end" for i, char in enumerate(breakers)] + ["last"]
    book.append_lines("j", lines)
    lines = [line.replace("\n", " ") for line in lines]  # as append_lines keeps each one line
    assert book.read("j") == (lines, len(lines))
    paged, after = [], 0
    while after < len(lines):
        page, total = book.read("j", after, limit=3)
        assert page and total == len(lines)
        paged += page
        after += len(page)
    assert paged == lines

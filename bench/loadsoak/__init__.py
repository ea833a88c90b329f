"""The load and soak test (bench/load_soak.py, tests/e2e/test_load_short.py): the mix
(:mod:`.mix`), what fails a request (:mod:`.checks`), the stack (:mod:`.stack`), the drive
(:mod:`.run`), the figures (:mod:`.stats`) and one run end to end (:mod:`.session`)."""

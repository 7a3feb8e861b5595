from fastvideo_ui.jobs.catalogue import Catalogue, PREVIEW, availability, check_params


def fields(errors):
    return {e.field for e in errors}


def test_wan_frames_must_be_4k_plus_1() -> None:
    wan = Catalogue().find("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert wan is not None
    assert fields(check_params(wan, {"num_frames": 80}, 1)) == {"num_frames"}
    assert "81" in check_params(wan, {"num_frames": 80}, 1)[0].message
    assert check_params(wan, {"num_frames": 81}, 1) == []


def test_sizes_and_ranges() -> None:
    errors = check_params(PREVIEW, {"height": 7, "width": 4096, "num_inference_steps": 0}, 1)
    assert fields(errors) == {"height", "width", "num_inference_steps"}


def test_too_many_devices_names_num_gpus() -> None:
    errors = check_params(PREVIEW, {"num_gpus": 3}, 2)
    assert fields(errors) == {"num_gpus"} and "2" in errors[0].message


def test_too_many_devices_counts_them_in_words() -> None:
    wan = Catalogue().find("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert wan is not None
    assert check_params(PREVIEW, {"num_gpus": 2}, 1)[0].message == \
        "asks for 2 CPU slots but this server has 1 CPU slot for fastvideo-ui/preview"
    assert check_params(wan, {"num_gpus": 1}, 0)[0].message == \
        f"asks for 1 GPU but this server has 0 GPUs for {wan.id}"


def test_availability_reasons() -> None:
    wan = Catalogue().find("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert availability(PREVIEW, False, 0, "") == (True, "")
    assert availability(wan, False, 0, "")[1].startswith("fastvideo is not installed")
    assert availability(wan, True, 0, "no driver")[1] == "no CUDA GPU: no driver"
    assert availability(wan, True, 1, "") == (True, "")


def test_every_model_has_its_own_default_for_each_field_the_spec_leaves_to_the_model() -> None:
    # A MODEL field a model has no default for is stored as null and refused by the worker at every run:
    # a new such field must give every model a value (jobs/catalogue.py), even one it does not apply to.
    from fastvideo_ui.spec.fields import FIELDS, MODEL

    for spec in Catalogue().all():
        missing = [f.name for f in FIELDS if f.default is MODEL and spec.defaults.get(f.name) is None]
        assert missing == [], f"{spec.id} has no default for {missing}"


def test_a_probed_model_takes_the_features_fastvideo_reports_else_the_built_in_ones() -> None:
    catalogue = Catalogue()
    wan22 = "Wan-AI/Wan2.2-T2V-A14B-Diffusers"
    catalogue.adopt([{"id": "org/new", "workload_types": ["t2v"], "features": ["vsa"]},
                     {"id": wan22, "workload_types": ["t2v"]},
                     {"id": "org/bare", "workload_types": ["t2v"]}])
    found = {model_id: spec.features for model_id in ("org/new", wan22, "org/bare")
             if (spec := catalogue.find(model_id)) is not None}
    assert found == {"org/new": {"vsa"}, wan22: {"vsa", "experts"}, "org/bare": frozenset()}

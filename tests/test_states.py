"""Every (action, status) pair of the state machine, legal and illegal."""

import pytest

from fastvideo_ui.jobs.states import Action, IllegalTransition, JobStatus, check_transition

S = JobStatus
LEGAL = {
    (Action.START, S.PENDING): S.QUEUED,
    (Action.START, S.FAILED): S.QUEUED,
    (Action.START, S.STOPPED): S.QUEUED,
    (Action.DISPATCH, S.QUEUED): S.RUNNING,
    (Action.COMPLETE, S.RUNNING): S.COMPLETED,
    (Action.FAIL, S.RUNNING): S.FAILED,
    (Action.FAIL, S.QUEUED): S.FAILED,
    (Action.STOP, S.QUEUED): S.STOPPED,
    (Action.STOP, S.RUNNING): S.STOPPED,
    (Action.RETRY, S.RUNNING): S.QUEUED,
}
ALL_PAIRS = [(action, status) for action in Action for status in JobStatus]


@pytest.mark.parametrize("action,status", ALL_PAIRS, ids=[f"{a.value}-{s.value}" for a, s in ALL_PAIRS])
def test_transition_table(action: Action, status: JobStatus) -> None:
    if (action, status) in LEGAL:
        assert check_transition("j", action, status) is LEGAL[(action, status)]
    else:
        with pytest.raises(IllegalTransition) as info:
            check_transition("j", action, status)
        message = str(info.value)
        assert status.value in message and action.value in message


def test_completed_is_final() -> None:
    for action in Action:
        with pytest.raises(IllegalTransition):
            check_transition("j", action, S.COMPLETED)


def test_restart_of_completed_says_how_to_run_again() -> None:
    with pytest.raises(IllegalTransition, match="duplicate"):
        check_transition("j", Action.START, S.COMPLETED)

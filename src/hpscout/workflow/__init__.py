"""The one-command workflow: resumable stages from subsets to the final config and report."""

from hpscout.workflow._run import (
    STAGES,
    WorkflowResult,
    final_verdict,
    plan_scouting,
    run_workflow,
    select_stages,
)

__all__ = [
    "STAGES",
    "WorkflowResult",
    "final_verdict",
    "plan_scouting",
    "run_workflow",
    "select_stages",
]

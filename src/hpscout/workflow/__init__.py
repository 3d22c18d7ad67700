"""The one-command workflow: resumable stages from subsets to the final config and report."""

from hpscout.workflow._run import STAGES, WorkflowResult, run_workflow, select_stages

__all__ = ["STAGES", "WorkflowResult", "run_workflow", "select_stages"]

"""OS::Heat::UpdateWaitConditionHandle: a cfn-style wait-condition handle that every stack update
replaces; it owns and touches what AWS::CloudFormation::WaitConditionHandle does (aws_wait.py)."""

from __future__ import annotations

from engine.resources.aws_wait import CfnWaitConditionHandle


class UpdateWaitConditionHandle(CfnWaitConditionHandle):
    """Works as AWS::CloudFormation::WaitConditionHandle (get_resource gives a pre-signed URL
    that takes cfn-signal's or the native JSON), except that every update of the stack replaces
    it: the old handle and the signals it received are gone, the URL changes, and a wait
    condition on it (OS::Heat::WaitCondition or AWS::CloudFormation::WaitCondition) waits for
    new signals. Pass the URL to whatever signals, so it signals again after each update."""

    type_name = "OS::Heat::UpdateWaitConditionHandle"
    generated_name = "UpdateWaitConditionHandle"
    replace_on_every_update = True

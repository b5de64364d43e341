"""Resource types: the registry built by `types()` maps a type name to its class; the type modules
are imported only when `types()` is called, and nothing here does I/O."""

from __future__ import annotations

from engine.resources.base import Done, Resource, ResourceState, Waiting


def types() -> dict[str, type[Resource]]:
    from engine.resources.alarm import AodhAlarm, CloudWatchAlarm
    from engine.resources.autoscaling import AutoScalingGroup
    from engine.resources.aws_autoscaling import AWSAutoScalingGroup, LaunchConfiguration
    from engine.resources.aws_instance import Instance
    from engine.resources.aws_wait import CfnWaitCondition, CfnWaitConditionHandle
    from engine.resources.chain import ResourceChain
    from engine.resources.deployment_group import (
        SoftwareDeploymentGroup,
        SoftwareDeployments,
        StructuredDeploymentGroup,
        StructuredDeployments,
    )
    from engine.resources.facts import Facts
    from engine.resources.group import ResourceGroup
    from engine.resources.heat_component import SoftwareComponent
    from engine.resources.heat_delay import Delay
    from engine.resources.heat_deployment import SoftwareDeployment
    from engine.resources.heat_multipart import CloudConfig, MultipartMime
    from engine.resources.heat_software import SoftwareConfig
    from engine.resources.heat_stack import CfnStack, HeatStack
    from engine.resources.heat_structured import StructuredConfig, StructuredDeployment
    from engine.resources.heat_testing import TestResource
    from engine.resources.heat_update_wait import UpdateWaitConditionHandle
    from engine.resources.heat_value import NoneResource, RandomString, Value
    from engine.resources.heat_wait import WaitCondition, WaitConditionHandle
    from engine.resources.scaling_policy import AWSScalingPolicy, ScalingPolicy
    from engine.resources.server import DeployedServer, Server

    return {
        "OS::Heat::None": NoneResource,
        "OS::Heat::Value": Value,
        "OS::Heat::RandomString": RandomString,
        "OS::Heat::TestResource": TestResource,
        "OS::Heat::Delay": Delay,
        "OS::Heat::SoftwareConfig": SoftwareConfig,
        "OS::Heat::SoftwareDeployment": SoftwareDeployment,
        "OS::Heat::StructuredConfig": StructuredConfig,
        "OS::Heat::StructuredDeployment": StructuredDeployment,
        "OS::Heat::SoftwareComponent": SoftwareComponent,
        "OS::Heat::CloudConfig": CloudConfig,
        "OS::Heat::MultipartMime": MultipartMime,
        "OS::Heat::WaitConditionHandle": WaitConditionHandle,
        "OS::Heat::WaitCondition": WaitCondition,
        "OS::Heat::UpdateWaitConditionHandle": UpdateWaitConditionHandle,
        "AWS::CloudFormation::WaitConditionHandle": CfnWaitConditionHandle,
        "AWS::CloudFormation::WaitCondition": CfnWaitCondition,
        "OS::Heat::Stack": HeatStack,
        "AWS::CloudFormation::Stack": CfnStack,
        "OS::Heat::ResourceGroup": ResourceGroup,
        "OS::Heat::ResourceChain": ResourceChain,
        "OS::Heat::AutoScalingGroup": AutoScalingGroup,
        "OS::Heat::ScalingPolicy": ScalingPolicy,
        "AWS::AutoScaling::AutoScalingGroup": AWSAutoScalingGroup,
        "AWS::AutoScaling::LaunchConfiguration": LaunchConfiguration,
        "AWS::AutoScaling::ScalingPolicy": AWSScalingPolicy,
        "OS::Heat::SoftwareDeploymentGroup": SoftwareDeploymentGroup,
        "OS::Heat::StructuredDeploymentGroup": StructuredDeploymentGroup,
        "OS::Heat::SoftwareDeployments": SoftwareDeployments,
        "OS::Heat::StructuredDeployments": StructuredDeployments,
        "OS::Nova::Server": Server,
        "OS::Heat::DeployedServer": DeployedServer,
        "AWS::EC2::Instance": Instance,
        "OS::Aodh::Alarm": AodhAlarm,
        "AWS::CloudWatch::Alarm": CloudWatchAlarm,
        "OS::Hearth::Facts": Facts,
    }


__all__ = ["Done", "Resource", "ResourceState", "Waiting", "types"]

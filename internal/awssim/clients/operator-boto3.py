"""An operator's script with boto3 against the simulator.

What a person's tooling around Ferry does with boto3: paginators over every
listing it reads, the waiters of EC2 and the balancers, a group behind a
Classic ELB and an ALB's target group from a launch configuration,
processes, instance health and protection, tags and scaling activities,
and the errors AWS answers, each checked as AWS documents it. Run by
run.sh, which sets the environment (AWS_ENDPOINT_URL, config files).
"""

import os
import sys

import boto3
from botocore.exceptions import ClientError

ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
# The simulator's time runs fast: poll waiters often.
FAST = {"Delay": 0.2, "MaxAttempts": 150}

session = boto3.session.Session()
ec2 = session.client("ec2", endpoint_url=ENDPOINT)
asg = session.client("autoscaling", endpoint_url=ENDPOINT)
elb = session.client("elb", endpoint_url=ENDPOINT)
elbv2 = session.client("elbv2", endpoint_url=ENDPOINT)


# KEEP_GOING=1 reports every failed check instead of stopping at the
# first (to compare with another simulator; a later step may then fail on
# an earlier one's outcome).
KEEP_GOING = os.environ.get("KEEP_GOING") == "1"
failures = []


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    failures.append(msg)
    if not KEEP_GOING:
        sys.exit(1)


def eq(got, want, what):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))


def expect_error(code, call, **kwargs):
    """The call fails with AWS error code."""
    try:
        call(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        if got != code:
            fail("%s: %s (%s), want %s" % (call.__name__, got, e, code))
        return e
    fail("%s(%r) succeeded, want %s" % (call.__name__, kwargs, code))


def pages(client, op, key, **kwargs):
    """Every item of a paginated listing, through boto3's paginator."""
    out = []
    for page in client.get_paginator(op).paginate(**kwargs):
        out.extend(page[key])
    return out


def wait_until(what, cond, attempts=150):
    import time

    for _ in range(attempts):
        if cond():
            return
        time.sleep(0.2)
    fail("timed out waiting for " + what)


def group(name):
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def in_service(name):
    return sorted(i["InstanceId"] for i in group(name)["Instances"] if i["LifecycleState"] == "InService")


# The account: zones, the default VPC and subnets, Debian's image.
zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
eq(zones, ["us-east-1a", "us-east-1b", "us-east-1c"], "zones")
eq([r["RegionName"] for r in ec2.describe_regions(RegionNames=["us-east-1"])["Regions"]], ["us-east-1"], "region")
subnets = pages(ec2, "describe_subnets", "Subnets", Filters=[{"Name": "default-for-az", "Values": ["true"]}])
eq(len(subnets), 3, "default subnets")
vpc = subnets[0]["VpcId"]
images = ec2.describe_images(Owners=["136693071363"], Filters=[{"Name": "name", "Values": ["debian-12-amd64-*"]}])["Images"]
if not images:
    fail("no Debian 12 image of Debian's account")
    images = ec2.describe_images(Owners=["amazon"])["Images"][:1]
ami = sorted(images, key=lambda i: i["CreationDate"])[-1]["ImageId"]

# Key pairs: made here, imported, listed, deleted.
key = ec2.create_key_pair(KeyName="deploy")
if not key["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----"):
    fail("rsa key material: " + key["KeyMaterial"][:40])
expect_error("InvalidKeyPair.Duplicate", ec2.create_key_pair, KeyName="deploy")
ec2.get_waiter("key_pair_exists").wait(KeyNames=["deploy"], WaiterConfig=FAST)
expect_error("InvalidKeyPair.Format", ec2.import_key_pair, KeyName="junk", PublicKeyMaterial=b"not a key")
eq(sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]), ["deploy"], "key pairs")

# Instances: three at once, by launch index; their status checks.
res = ec2.run_instances(ImageId=ami, MinCount=3, MaxCount=3, InstanceType="t3.micro", KeyName="deploy", UserData="#!/bin/sh\necho hi\n",
                        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "batch"}]}])
eq([i["AmiLaunchIndex"] for i in res["Instances"]], [0, 1, 2], "AmiLaunchIndex")
ids = [i["InstanceId"] for i in res["Instances"]]
expect_error("InvalidAMIID.NotFound", ec2.run_instances, ImageId="ami-0000000000000dead", MinCount=1, MaxCount=1)
expect_error("InvalidParameterValue", ec2.run_instances, ImageId=ami, MinCount=2, MaxCount=1)
expect_error("InvalidParameterValue", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.mirco")
ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig=FAST)
ec2.get_waiter("instance_status_ok").wait(InstanceIds=ids, WaiterConfig=FAST)
ec2.get_waiter("system_status_ok").wait(InstanceIds=ids, WaiterConfig=FAST)
statuses = pages(ec2, "describe_instance_status", "InstanceStatuses", MaxResults=5)
eq(sorted(s["InstanceId"] for s in statuses), sorted(ids), "instance statuses")
# Paginated listings: pages of 5, the smallest EC2 allows.
found = [i["InstanceId"] for r in pages(ec2, "describe_instances", "Reservations", MaxResults=5,
                                        Filters=[{"Name": "tag:Name", "Values": ["batch"]}]) for i in r["Instances"]]
eq(sorted(found), sorted(ids), "instances by tag")
expect_error("InvalidParameterValue", ec2.describe_instances, MaxResults=1000000)
expect_error("InvalidParameterCombination", ec2.describe_instances, InstanceIds=ids, MaxResults=5)
expect_error("InvalidInstanceID.NotFound", ec2.describe_instance_status, InstanceIds=["i-0000000000000dead"])
expect_error("InvalidParameterValue", ec2.describe_instances, Filters=[{"Name": "colour", "Values": ["blue"]}])
expect_error("DryRunOperation", ec2.terminate_instances, InstanceIds=ids, DryRun=True)
eq(sorted({i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]}), ["running"], "after a dry run")
eq(sorted({(i["VpcId"], i["SubnetId"]) for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]}),
   [(vpc, subnets[0]["SubnetId"])], "the instances' VPC and subnet")
ec2.get_waiter("instance_exists").wait(InstanceIds=ids, WaiterConfig=FAST)
eq(ec2.describe_instance_attribute(InstanceId=ids[0], Attribute="userData")["UserData"]["Value"], "IyEvYmluL3NoCmVjaG8gaGkK", "user data (base64)")
ec2.create_tags(Resources=ids, Tags=[{"Key": "stage", "Value": "test"}])
ec2.delete_tags(Resources=ids, Tags=[{"Key": "Name", "Value": "other"}, {"Key": "stage"}])
eq(sorted(t["Key"] for t in ec2.describe_instances(InstanceIds=ids[:1])["Reservations"][0]["Instances"][0]["Tags"]), ["Name"], "tags after delete_tags")

# An image of one, its snapshot, and the image launched.
img = ec2.create_image(InstanceId=ids[0], Name="batch-1", TagSpecifications=[
    {"ResourceType": "image", "Tags": [{"Key": "ferry:commit", "Value": "abc"}]}])["ImageId"]
ec2.get_waiter("image_available").wait(ImageIds=[img], WaiterConfig=FAST)
ec2.get_waiter("image_exists").wait(ImageIds=[img], WaiterConfig=FAST)
desc = ec2.describe_images(ImageIds=[img])["Images"][0]
eq((desc["State"], desc["OwnerId"], desc["Public"]), ("available", "123456789012", False), "own image")
snap = desc["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap], WaiterConfig=FAST)
eq([i["ImageId"] for i in ec2.describe_images(Filters=[{"Name": "tag:ferry:commit", "Values": ["abc"]}])["Images"]], [img], "images by tag")
ec2.terminate_instances(InstanceIds=ids)
ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=FAST)

# The launch configuration and a Classic ELB.
sg = ec2.create_security_group(GroupName="app", Description="app servers", VpcId=vpc)["GroupId"]
ec2.get_waiter("security_group_exists").wait(GroupIds=[sg], WaiterConfig=FAST)
rule = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=rule)
expect_error("InvalidPermission.Duplicate", ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=rule)
eq(ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=rule).get("UnknownIpPermissions", []), [], "revoked")
asg.create_launch_configuration(LaunchConfigurationName="app-1", ImageId=img, InstanceType="t3.micro", KeyName="deploy", SecurityGroups=[sg])
eq([c["LaunchConfigurationName"] for c in pages(asg, "describe_launch_configurations", "LaunchConfigurations", PaginationConfig={"PageSize": 1})],
   ["app-1"], "launch configurations")
elb.create_load_balancer(LoadBalancerName="app", Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}],
                         AvailabilityZones=["us-east-1a", "us-east-1b"])
elb.configure_health_check(LoadBalancerName="app", HealthCheck={"Target": "HTTP:80/healthcheck.html", "Interval": 5, "Timeout": 2,
                                                                  "UnhealthyThreshold": 2, "HealthyThreshold": 2})
elb.modify_load_balancer_attributes(LoadBalancerName="app", LoadBalancerAttributes={"ConnectionDraining": {"Enabled": True, "Timeout": 5}})
eq(pages(elb, "describe_load_balancers", "LoadBalancerDescriptions", LoadBalancerNames=["app"])[0]["HealthCheck"]["Target"],
   "HTTP:80/healthcheck.html", "classic health check")
expect_error("LoadBalancerNotFound", elb.describe_load_balancers, LoadBalancerNames=["nope"])
elb.add_tags(LoadBalancerNames=["app"], Tags=[{"Key": "env", "Value": "qa"}, {"Key": "tmp", "Value": "1"}])
elb.remove_tags(LoadBalancerNames=["app"], Tags=[{"Key": "tmp"}])
eq(elb.describe_tags(LoadBalancerNames=["app"])["TagDescriptions"][0]["Tags"], [{"Key": "env", "Value": "qa"}], "classic tags")

# A network load balancer's TCP target group, and an ALB's HTTP one.
tcp = elbv2.create_target_group(Name="app-tcp", Protocol="TCP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
http = elbv2.create_target_group(Name="app-http", Protocol="HTTP", Port=80, VpcId=vpc, HealthCheckPath="/healthcheck.html",
                                 HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
expect_error("DuplicateTargetGroupName", elbv2.create_target_group, Name="app-http", Protocol="HTTP", Port=8080, VpcId=vpc)
expect_error("ValidationError", elbv2.create_target_group, Name="app_http", Protocol="HTTP", Port=80, VpcId=vpc)
expect_error("ValidationError", elbv2.create_target_group, Name="app-novpc", Protocol="HTTP", Port=80)
elbv2.modify_target_group(TargetGroupArn=http, HealthCheckIntervalSeconds=6)
elbv2.add_tags(ResourceArns=[http], Tags=[{"Key": "env", "Value": "qa"}])
eq(elbv2.describe_tags(ResourceArns=[http])["TagDescriptions"][0]["Tags"], [{"Key": "env", "Value": "qa"}], "target group tags")
alb = elbv2.create_load_balancer(Name="app", Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
eq((alb["Type"], alb["Scheme"], alb["State"]["Code"] in ("provisioning", "active")), ("application", "internet-facing", True), "load balancer")
elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[alb["LoadBalancerArn"]], WaiterConfig=FAST)
expect_error("ValidationError", elbv2.create_load_balancer, Name="lonely", Subnets=[subnets[0]["SubnetId"]])
expect_error("IncompatibleProtocols", elbv2.create_listener, LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=81,
             DefaultActions=[{"Type": "forward", "TargetGroupArn": tcp}])
listener = elbv2.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                 DefaultActions=[{"Type": "forward", "TargetGroupArn": http}])["Listeners"][0]
other = elbv2.create_target_group(Name="app-other", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
expect_error("DuplicateListener", elbv2.create_listener, LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80,
             DefaultActions=[{"Type": "forward", "TargetGroupArn": other}])
expect_error("ValidationError", elbv2.create_listener, LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
             DefaultActions=[{"Type": "forward", "TargetGroupArn": other}])
eq([l["Port"] for l in pages(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=alb["LoadBalancerArn"])], [80], "listeners")
eq(sorted(t["TargetGroupName"] for t in pages(elbv2, "describe_target_groups", "TargetGroups", PaginationConfig={"PageSize": 1})),
   ["app-http", "app-other", "app-tcp"], "target groups page by page")
eq([t["TargetGroupName"] for t in elbv2.describe_target_groups(LoadBalancerArn=alb["LoadBalancerArn"])["TargetGroups"]], ["app-http"],
   "the load balancer's target groups")

# The group in both balancers.
asg.create_auto_scaling_group(AutoScalingGroupName="app", LaunchConfigurationName="app-1", MinSize=1, MaxSize=3, DesiredCapacity=2,
                              AvailabilityZones=["us-east-1a", "us-east-1b"], LoadBalancerNames=["app"], TargetGroupARNs=[http, tcp],
                              HealthCheckType="ELB", HealthCheckGracePeriod=30,
                              Tags=[{"Key": "env", "Value": "qa", "PropagateAtLaunch": True},
                                    {"Key": "team", "Value": "ops", "PropagateAtLaunch": False}])
expect_error("ValidationError", asg.create_auto_scaling_group, AutoScalingGroupName="app-subnets", LaunchConfigurationName="app-1",
             MinSize=0, MaxSize=1, VPCZoneIdentifier="subnet-0000000000000dead")
wait_until("two InService", lambda: len(in_service("app")) == 2)
members = in_service("app")
targets = [{"Id": i} for i in members]
elb.get_waiter("instance_in_service").wait(LoadBalancerName="app", Instances=[{"InstanceId": i} for i in members], WaiterConfig=FAST)
elb.get_waiter("any_instance_in_service").wait(LoadBalancerName="app", WaiterConfig=FAST)
elbv2.get_waiter("target_in_service").wait(TargetGroupArn=http, Targets=targets, WaiterConfig=FAST)
# The TCP group is in no load balancer: its targets are not checked.
for d in elbv2.describe_target_health(TargetGroupArn=tcp)["TargetHealthDescriptions"]:
    eq((d["TargetHealth"]["State"], d["TargetHealth"]["Reason"]), ("unused", "Target.NotInUse"), "a target of a group in no load balancer")
eq([g["LoadBalancerTargetGroupARN"] for g in asg.describe_load_balancer_target_groups(AutoScalingGroupName="app")["LoadBalancerTargetGroups"]],
   [http, tcp], "the group's target groups")
eq([b["LoadBalancerName"] for b in asg.describe_load_balancers(AutoScalingGroupName="app")["LoadBalancers"]], ["app"], "the group's classic balancers")
tags = {t["Key"]: t["Value"] for r in pages(ec2, "describe_instances", "Reservations", InstanceIds=members) for i in r["Instances"] for t in i["Tags"]}
eq((tags.get("env"), "team" in tags, tags.get("aws:autoscaling:groupName")), ("qa", False, "app"), "a member's tags")

# Tags: every page of describe_tags, filtered.
asg.create_or_update_tags(Tags=[{"ResourceId": "app", "ResourceType": "auto-scaling-group", "Key": "owner", "Value": "me", "PropagateAtLaunch": False}])
eq(sorted((t["Key"], t["Value"]) for t in pages(asg, "describe_tags", "Tags", PaginationConfig={"PageSize": 1})),
   [("env", "qa"), ("owner", "me"), ("team", "ops")], "group tags")
eq([t["Key"] for t in pages(asg, "describe_tags", "Tags", Filters=[{"Name": "propagate-at-launch", "Values": ["true"]}])], ["env"], "propagated tags")
asg.delete_tags(Tags=[{"ResourceId": "app", "ResourceType": "auto-scaling-group", "Key": "owner"}])
eq(len(pages(asg, "describe_tags", "Tags")), 2, "tags after delete_tags")
eq([g["AutoScalingGroupName"] for g in pages(asg, "describe_auto_scaling_groups", "AutoScalingGroups",
                                              Filters=[{"Name": "tag:env", "Values": ["qa"]}])], ["app"], "groups by tag")

# Processes and capacity.
asg.suspend_processes(AutoScalingGroupName="app", ScalingProcesses=["ReplaceUnhealthy", "AZRebalance"])
eq(sorted(p["ProcessName"] for p in group("app")["SuspendedProcesses"]), ["AZRebalance", "ReplaceUnhealthy"], "suspended")
asg.suspend_processes(AutoScalingGroupName="app", ScalingProcesses=["AZRebalance"])  # again: no error
eq(sorted(p["ProcessName"] for p in asg.describe_scaling_process_types()["Processes"])[:2], ["AZRebalance", "AddToLoadBalancer"], "process types")
asg.resume_processes(AutoScalingGroupName="app", ScalingProcesses=["AZRebalance"])
eq([p["ProcessName"] for p in group("app")["SuspendedProcesses"]], ["ReplaceUnhealthy"], "after resume")
expect_error("ValidationError", asg.set_desired_capacity, AutoScalingGroupName="app", DesiredCapacity=4)
expect_error("ValidationError", asg.update_auto_scaling_group, AutoScalingGroupName="app", MinSize=3, MaxSize=2)

# Instance health: with ReplaceUnhealthy suspended the group keeps it.
sick = members[0]
asg.set_instance_health(InstanceId=sick, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
eq(asg.describe_auto_scaling_instances(InstanceIds=[sick])["AutoScalingInstances"][0]["HealthStatus"].upper(), "UNHEALTHY", "marked unhealthy")
asg.resume_processes(AutoScalingGroupName="app")
wait_until("the unhealthy instance replaced", lambda: sick not in [i["InstanceId"] for i in group("app")["Instances"]] and len(in_service("app")) == 2)
ec2.get_waiter("instance_terminated").wait(InstanceIds=[sick], WaiterConfig=FAST)

# Scale-in protection, and TerminateInstanceInAutoScalingGroup.
members = in_service("app")
asg.set_instance_protection(AutoScalingGroupName="app", InstanceIds=[members[0]], ProtectedFromScaleIn=True)
act = asg.terminate_instance_in_auto_scaling_group(InstanceId=members[1], ShouldDecrementDesiredCapacity=True)["Activity"]
eq(act["Description"], "Terminating EC2 instance: " + members[1], "terminate activity")
expect_error("ValidationError", asg.terminate_instance_in_auto_scaling_group, InstanceId=members[0], ShouldDecrementDesiredCapacity=True)
elbv2.get_waiter("target_deregistered").wait(TargetGroupArn=http, Targets=[{"Id": members[1]}], WaiterConfig=FAST)
elb.get_waiter("instance_deregistered").wait(LoadBalancerName="app", Instances=[{"InstanceId": members[1]}], WaiterConfig=FAST)

# Scaling activities: newest first, every page the same as one.
acts = pages(asg, "describe_scaling_activities", "Activities", AutoScalingGroupName="app", PaginationConfig={"PageSize": 1})
eq([a["ActivityId"] for a in acts], [a["ActivityId"] for a in asg.describe_scaling_activities(AutoScalingGroupName="app")["Activities"]],
   "activities page by page")
eq(acts[0]["Description"], "Terminating EC2 instance: " + members[1], "newest activity")
if len(acts) < 4 or any(a["StatusCode"] not in ("Successful", "InProgress", "WaitingForELBConnectionDraining") for a in acts):
    fail("activities: %r" % [(a["Description"], a["StatusCode"]) for a in acts])
expect_error("ValidationError", asg.describe_scaling_activities, AutoScalingGroupName="app", MaxRecords=101)

# Errors a script meets.
expect_error("ValidationError", asg.set_desired_capacity, AutoScalingGroupName="nope", DesiredCapacity=1)
eq(asg.describe_auto_scaling_groups(AutoScalingGroupNames=["nope"])["AutoScalingGroups"], [], "an unknown group")
expect_error("ResourceInUse", asg.delete_launch_configuration, LaunchConfigurationName="app-1")
expect_error("ResourceInUse", elbv2.delete_target_group, TargetGroupArn=http)
expect_error("TargetGroupNotFound", elbv2.describe_target_health, TargetGroupArn=http.replace("app-http", "nope"))
expect_error("InvalidTarget", elbv2.register_targets, TargetGroupArn=other, Targets=[{"Id": "i-0000000000000dead"}])
expect_error("ListenerNotFound", elbv2.describe_listeners, ListenerArns=[listener["ListenerArn"] + "0"])
expect_error("InvalidInstanceID.NotFound", ec2.terminate_instances, InstanceIds=["i-0000000000000dead"])

# Tear down.
asg.update_auto_scaling_group(AutoScalingGroupName="app", MinSize=0, DesiredCapacity=0)
asg.set_instance_protection(AutoScalingGroupName="app", InstanceIds=[members[0]], ProtectedFromScaleIn=False)
wait_until("the group empty", lambda: group("app")["Instances"] == [])
# Its instances hold the security group until they are terminated
# (DeleteSecurityGroup: DependencyViolation).
launched = [i["InstanceId"] for r in pages(ec2, "describe_instances", "Reservations",
                                           Filters=[{"Name": "tag:aws:autoscaling:groupName", "Values": ["app"]}]) for i in r["Instances"]]
ec2.get_waiter("instance_terminated").wait(InstanceIds=launched, WaiterConfig=FAST)
asg.delete_auto_scaling_group(AutoScalingGroupName="app")
asg.delete_launch_configuration(LaunchConfigurationName="app-1")
elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
elbv2.delete_load_balancer(LoadBalancerArn=alb["LoadBalancerArn"])
elbv2.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[alb["LoadBalancerArn"]], WaiterConfig=FAST)
for arn in (http, tcp, other):
    elbv2.delete_target_group(TargetGroupArn=arn)
elb.delete_load_balancer(LoadBalancerName="app")
ec2.deregister_image(ImageId=img)
ec2.delete_snapshot(SnapshotId=snap)
ec2.delete_key_pair(KeyName="deploy")
ec2.delete_security_group(GroupId=sg)
if failures:
    sys.exit("boto3: %d checks failed" % len(failures))
print("boto3: ok")

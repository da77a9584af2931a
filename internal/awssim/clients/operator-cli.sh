#!/bin/bash
# An operator's session with the AWS CLI against the simulator: what a
# person does around Ferry by hand — find the image, make a key pair and a
# security group, launch and inspect instances, build a group behind a
# Classic ELB and an ALB's target group from a launch template, tag it,
# suspend and resume its processes, mark an instance unhealthy, read its
# scaling activities, bake an image — with the CLI's waiters, its automatic
# pagination and the errors AWS answers. Run by run.sh (it sets the
# environment); each check says what AWS documents.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
# eq GOT WANT WHAT
eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }
aws() { /usr/bin/aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
# q ARGS...: one value as text.
q() { aws --output text "$@"; }
# expect_error CODE ARGS...: the call fails with AWS error CODE.
expect_error() {
  local code=$1 out
  shift
  if out=$(aws "$@" 2>&1); then
    fail "aws $*: succeeded, want $code"
  fi
  case $out in
    *"($code)"*) ;;
    *) fail "aws $*: '$out', want $code" ;;
  esac
}
# until_eq WANT ARGS...: polls a query (bounded) until it answers WANT.
until_eq() {
  local want=$1 got=
  shift
  for _ in $(seq 60); do
    got=$(q "$@")
    [ "$got" = "$want" ] && return 0
    sleep 0.2
  done
  fail "aws $*: '$got', want '$want'"
}

# The region and its zones; the default VPC's subnets.
eq "$(q ec2 describe-availability-zones --query 'AvailabilityZones[].ZoneName')" $'us-east-1a\tus-east-1b\tus-east-1c' "zones"
vpc=$(q ec2 describe-vpcs --filters Name=is-default,Values=true --query 'Vpcs[0].VpcId')
read -r -a subnets <<<"$(q ec2 describe-subnets --filters Name=default-for-az,Values=true Name=availability-zone,Values=us-east-1a,us-east-1b --query 'Subnets[].SubnetId')"
eq "${#subnets[@]}" 2 "default subnets of two zones"

# The newest Debian 12 image, by Debian's account and the name's pattern.
ami=$(q ec2 describe-images --owners 136693071363 --filters 'Name=name,Values=debian-12-amd64-*' --query 'sort_by(Images,&CreationDate)[-1].ImageId')
[[ $ami == ami-* ]] || fail "no Debian image: $ami"

# A key pair: the private key is shown once.
q ec2 create-key-pair --key-name ops --key-type ed25519 --query KeyMaterial >"$WORK/ops.pem"
chmod 600 "$WORK/ops.pem"
grep -q 'BEGIN OPENSSH PRIVATE KEY' "$WORK/ops.pem" || fail "ed25519 key material is not an OpenSSH key"
expect_error InvalidKeyPair.Duplicate ec2 create-key-pair --key-name ops
eq "$(q ec2 describe-key-pairs --key-names ops --query 'KeyPairs[0].KeyType')" ed25519 "key type"
expect_error InvalidKeyPair.NotFound ec2 describe-key-pairs --key-names nobody

# A security group open on 80.
sg=$(q ec2 create-security-group --group-name web --description "web servers" --vpc-id "$vpc" --query GroupId)
aws ec2 authorize-security-group-ingress --group-id "$sg" --protocol tcp --port 80 --cidr 0.0.0.0/0 >/dev/null
expect_error InvalidPermission.Duplicate ec2 authorize-security-group-ingress --group-id "$sg" --protocol tcp --port 80 --cidr 0.0.0.0/0
expect_error InvalidGroup.Duplicate ec2 create-security-group --group-name web --description again --vpc-id "$vpc"

# Two instances at once: one reservation, launch indexes 0 and 1.
run=$(q ec2 run-instances --image-id "$ami" --count 2 --instance-type t3.micro --key-name ops --security-group-ids "$sg" \
  --tag-specifications 'ResourceType=instance,Tags=[{Key=Name,Value=adhoc}]' --query 'Instances[].[InstanceId,AmiLaunchIndex]')
read -r i1 n1 i2 n2 <<<"$(echo $run)"
eq "$n1 $n2" "0 1" "AmiLaunchIndex of --count 2"
expect_error InvalidAMIID.NotFound ec2 run-instances --image-id ami-0000000000000dead --count 1
expect_error InvalidKeyPair.NotFound ec2 run-instances --image-id "$ami" --key-name nobody
aws ec2 wait instance-running --instance-ids "$i1" "$i2"
aws ec2 wait instance-status-ok --instance-ids "$i1" "$i2"
eq "$(q ec2 describe-instance-status --instance-ids "$i1" --query 'InstanceStatuses[0].[InstanceState.Name,SystemStatus.Status,InstanceStatus.Status]')" $'running\tok\tok' "instance status"
eq "$(q ec2 describe-instances --filters Name=tag:Name,Values=adhoc Name=instance-state-name,Values=running --query 'length(Reservations[].Instances[])')" 2 "instances by tag"
# Automatic pagination: a page of one instance at a time, the same two.
eq "$(q ec2 describe-instances --page-size 5 --filters Name=tag:Name,Values=adhoc --query 'Reservations[].Instances[].InstanceId' | tr '\t' '\n' | sort | tr '\n' ' ')" "$(printf '%s\n' "$i1" "$i2" | sort | tr '\n' ' ')" "paginated instances"
aws ec2 create-tags --resources "$i1" --tags Key=role,Value=builder
eq "$(q ec2 describe-tags --filters Name=resource-id,Values="$i1" Name=key,Values=role --query 'Tags[0].Value')" builder "instance tag"
expect_error InvalidInstanceID.NotFound ec2 describe-instances --instance-ids i-0000000000000dead
expect_error DryRunOperation ec2 terminate-instances --instance-ids "$i1" --dry-run

# An image of the first instance.
img=$(q ec2 create-image --instance-id "$i1" --name web-base-1 --description "web base" --query ImageId)
aws ec2 wait image-available --image-ids "$img"
eq "$(q ec2 describe-images --owners self --query 'Images[].Name')" web-base-1 "own images"
expect_error InvalidAMIName.Duplicate ec2 create-image --instance-id "$i1" --name web-base-1
aws ec2 terminate-instances --instance-ids "$i1" "$i2" >/dev/null
aws ec2 wait instance-terminated --instance-ids "$i1" "$i2"

# A launch template of the image, and a second version.
lt=$(q ec2 create-launch-template --launch-template-name web \
  --launch-template-data "{\"ImageId\":\"$img\",\"InstanceType\":\"t3.micro\",\"KeyName\":\"ops\",\"SecurityGroupIds\":[\"$sg\"]}" \
  --query LaunchTemplate.LaunchTemplateId)
eq "$(q ec2 create-launch-template-version --launch-template-id "$lt" --source-version 1 --version-description small \
  --launch-template-data '{"InstanceType":"t3.small"}' --query LaunchTemplateVersion.VersionNumber)" 2 "second version"
aws ec2 modify-launch-template --launch-template-id "$lt" --default-version 2 >/dev/null
# Launch template versions page from 1 (most EC2 listings from 5).
eq "$(q ec2 describe-launch-template-versions --launch-template-id "$lt" --page-size 1 --query 'LaunchTemplateVersions[].VersionNumber' | tr -s '\t\n' '  ')" "1 2 " "versions page by page"
eq "$(q ec2 describe-launch-template-versions --launch-template-id "$lt" --versions '$Default' --query 'LaunchTemplateVersions[0].LaunchTemplateData.[InstanceType,ImageId]')" $'t3.small\t'"$img" "default version"
expect_error InvalidLaunchTemplateName.AlreadyExistsException ec2 create-launch-template --launch-template-name web --launch-template-data '{"InstanceType":"t3.micro"}'

# A launch configuration, the older way.
aws autoscaling create-launch-configuration --launch-configuration-name web-lc --image-id "$img" --instance-type t3.micro --key-name ops --security-groups "$sg"
expect_error AlreadyExists autoscaling create-launch-configuration --launch-configuration-name web-lc --image-id "$img" --instance-type t3.micro
expect_error ValidationError autoscaling create-launch-configuration --launch-configuration-name bad-lc --image-id ami-0000000000000dead --instance-type t3.micro

# A Classic ELB with the seed's health check.
aws elb create-load-balancer --load-balancer-name web --listeners Protocol=HTTP,LoadBalancerPort=80,InstanceProtocol=HTTP,InstancePort=80 \
  --availability-zones us-east-1a us-east-1b --security-groups "$sg" >/dev/null
aws elb configure-health-check --load-balancer-name web \
  --health-check Target=HTTP:80/healthcheck.html,Interval=5,Timeout=2,UnhealthyThreshold=2,HealthyThreshold=2 >/dev/null

# A target group behind an application load balancer.
tg=$(q elbv2 create-target-group --name web --protocol HTTP --port 80 --vpc-id "$vpc" --health-check-path /healthcheck.html \
  --health-check-interval-seconds 5 --health-check-timeout-seconds 2 --healthy-threshold-count 2 --query 'TargetGroups[0].TargetGroupArn')
eq "$(q elbv2 create-target-group --name web --protocol HTTP --port 80 --vpc-id "$vpc" --health-check-path /healthcheck.html \
  --health-check-interval-seconds 5 --health-check-timeout-seconds 2 --healthy-threshold-count 2 --query 'TargetGroups[0].TargetGroupArn')" "$tg" "the same target group again"
expect_error DuplicateTargetGroupName elbv2 create-target-group --name web --protocol HTTP --port 8080 --vpc-id "$vpc"
alb=$(q elbv2 create-load-balancer --name web --subnets "${subnets[@]}" --security-groups "$sg" --query 'LoadBalancers[0].LoadBalancerArn')
aws elbv2 wait load-balancer-available --load-balancer-arns "$alb"
listener=$(q elbv2 create-listener --load-balancer-arn "$alb" --protocol HTTP --port 80 --default-actions Type=forward,TargetGroupArn="$tg" --query 'Listeners[0].ListenerArn')
eq "$(q elbv2 describe-target-groups --names web --query 'TargetGroups[0].LoadBalancerArns[0]')" "$alb" "the target group's load balancer"
# CreateListener is idempotent: the same settings answer the same listener.
eq "$(q elbv2 create-listener --load-balancer-arn "$alb" --protocol HTTP --port 80 --default-actions Type=forward,TargetGroupArn="$tg" --query 'Listeners[0].ListenerArn')" "$listener" "the same listener again"

# The group, from the template's default version, in both balancers.
aws autoscaling create-auto-scaling-group --auto-scaling-group-name web --launch-template "LaunchTemplateId=$lt,Version=\$Default" \
  --min-size 2 --max-size 4 --desired-capacity 2 --availability-zones us-east-1a us-east-1b \
  --load-balancer-names web --target-group-arns "$tg" --health-check-type ELB --health-check-grace-period 30 \
  --tags Key=env,Value=staging,PropagateAtLaunch=true
expect_error AlreadyExists autoscaling create-auto-scaling-group --auto-scaling-group-name web --launch-configuration-name web-lc --min-size 1 --max-size 1
until_eq 2 autoscaling describe-auto-scaling-groups --auto-scaling-group-names web --query 'length(AutoScalingGroups[0].Instances[?LifecycleState==`InService`])'
read -r -a members <<<"$(q autoscaling describe-auto-scaling-groups --auto-scaling-group-names web --query 'AutoScalingGroups[0].Instances[].InstanceId')"
aws elb wait instance-in-service --load-balancer-name web --instances "${members[0]}" "${members[1]}"
aws elbv2 wait target-in-service --target-group-arn "$tg" --targets "Id=${members[0]}" "Id=${members[1]}"
eq "$(q ec2 describe-instances --instance-ids "${members[0]}" --query 'Reservations[0].Instances[0].[InstanceType,Tags[?Key==`env`].Value|[0]]')" $'t3.small\tstaging' "a member's type and propagated tag"

# Tags of the group.
aws autoscaling create-or-update-tags --tags ResourceId=web,ResourceType=auto-scaling-group,Key=owner,Value=ops,PropagateAtLaunch=false
eq "$(q autoscaling describe-tags --filters Name=auto-scaling-group,Values=web --query 'Tags[].Key')" $'env\towner' "group tags"
eq "$(q autoscaling describe-tags --filters Name=key,Values=owner --query 'Tags[0].PropagateAtLaunch')" False "owner not propagated"

# Processes: suspended, then resumed.
aws autoscaling suspend-processes --auto-scaling-group-name web --scaling-processes Launch Terminate AZRebalance
eq "$(q autoscaling describe-auto-scaling-groups --auto-scaling-group-names web --query 'sort(AutoScalingGroups[0].SuspendedProcesses[].ProcessName)')" $'AZRebalance\tLaunch\tTerminate' "suspended"
expect_error ValidationError autoscaling suspend-processes --auto-scaling-group-name web --scaling-processes Reboot
aws autoscaling resume-processes --auto-scaling-group-name web
eq "$(q autoscaling describe-auto-scaling-groups --auto-scaling-group-names web --query 'length(AutoScalingGroups[0].SuspendedProcesses)')" 0 "resumed"

# Capacity: within [MinSize, MaxSize] only.
expect_error ValidationError autoscaling set-desired-capacity --auto-scaling-group-name web --desired-capacity 5
aws autoscaling set-desired-capacity --auto-scaling-group-name web --desired-capacity 3
until_eq 3 autoscaling describe-auto-scaling-groups --auto-scaling-group-names web --query 'length(AutoScalingGroups[0].Instances[?LifecycleState==`InService`])'

# An instance marked unhealthy is replaced.
sick=${members[0]}
aws autoscaling set-instance-health --instance-id "$sick" --health-status Unhealthy --no-should-respect-grace-period
until_eq 0 autoscaling describe-auto-scaling-instances --query "length(AutoScalingInstances[?InstanceId=='$sick'])"
until_eq 3 autoscaling describe-auto-scaling-groups --auto-scaling-group-names web --query 'length(AutoScalingGroups[0].Instances[?LifecycleState==`InService`])'
expect_error ValidationError autoscaling set-instance-health --instance-id i-0000000000000dead --health-status Unhealthy

# Scaling activities, newest first, the same whatever the page size.
# (The text output puts each page on a line of its own.)
all=$(q autoscaling describe-scaling-activities --auto-scaling-group-name web --query 'Activities[].ActivityId' | tr -s '\t\n' '  ')
paged=$(q autoscaling describe-scaling-activities --auto-scaling-group-name web --page-size 1 --query 'Activities[].ActivityId' | tr -s '\t\n' '  ')
eq "$paged" "$all" "activities page by page"
[ "$(echo $all | wc -w)" -ge 5 ] || fail "activities: $all"
# --max-items cuts the listing where the CLI stops; the newest activity
# is the replacement's launch.
eq "$(q autoscaling describe-scaling-activities --auto-scaling-group-name web --max-items 1 --query 'Activities[0].Description' | head -1)" "$(q autoscaling describe-scaling-activities --auto-scaling-group-name web --query 'Activities[0].Description')" "the newest activity"
eq "$(q autoscaling describe-scaling-activities --auto-scaling-group-name web --query "length(Activities[?Description=='Terminating EC2 instance: $sick'])")" 1 "the unhealthy instance's termination"

# Errors of the balancers.
expect_error LoadBalancerNotFound elb describe-instance-health --load-balancer-name nope
expect_error TargetGroupNotFound elbv2 describe-target-groups --names nope
expect_error ResourceInUse elbv2 delete-target-group --target-group-arn "$tg"

# Tear down, as a person would.
aws autoscaling delete-auto-scaling-group --auto-scaling-group-name web --force-delete
until_eq 0 autoscaling describe-auto-scaling-groups --auto-scaling-group-names web --query 'length(AutoScalingGroups)'
aws elbv2 delete-listener --listener-arn "$listener"
aws elbv2 delete-load-balancer --load-balancer-arn "$alb"
aws elbv2 delete-target-group --target-group-arn "$tg"
aws elb delete-load-balancer --load-balancer-name web
aws autoscaling delete-launch-configuration --launch-configuration-name web-lc
aws ec2 delete-launch-template --launch-template-id "$lt" >/dev/null
aws ec2 deregister-image --image-id "$img"
aws ec2 delete-key-pair --key-name ops
echo "cli: ok"

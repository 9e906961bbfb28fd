"""A CDK app of someone else's, in Python, using ses-relay as installed from its wheel.

SMTP credentials for another region (us-east-1) than the stack's (eu-west-1), SesRelay configuring
an ec2.Instance, and a SesRelayHub. test/consumer/python.test.ts synthesizes it into the folder named
by the first argument and compares the template with its TypeScript twin's: keep the two alike.
"""

import sys

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from ses_relay import RelayTarget, SesRelay, SesRelayHub, SesSmtpCredentials

app = App(outdir=sys.argv[1])
stack = Stack(app, "ConsumerStack", env=Environment(region="eu-west-1"))
vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
instance = ec2.Instance(
    stack,
    "AppServer",
    vpc=vpc,
    vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
    instance_type=ec2.InstanceType("t3.micro"),
    machine_image=ec2.MachineImage.latest_amazon_linux2023(),
)

# SES in us-east-1, the stack (and the secret) in eu-west-1.
credentials = SesSmtpCredentials(stack, "SmtpCredentials", smtp_region="us-east-1", allow_any_identity=True)
SesRelay(stack, "Relay", credentials=credentials).configure(RelayTarget.from_instance(instance))
SesRelayHub(stack, "Hub", vpc=vpc, credentials=credentials, relay_networks=["10.0.0.0/16"])

app.synth()

// The baseline of bench/synth.mjs: the smallest CDK app worth the name, one stack holding one SNS
// topic, run the way bin/app.ts is (through tsx, by the same CDK CLI, with the same cdk.json).
import { App, Stack } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';

const app = new App();
new sns.Topic(new Stack(app, 'SnsTopic'), 'Topic');
app.synth();

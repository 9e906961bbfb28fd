// The CDK app: thin. Everything it builds is in lib/.
import { App, Stack } from 'aws-cdk-lib';

const app = new App();
new Stack(app, 'SesRelay', { description: 'ses-relay: mail from EC2 through Amazon SES with Postfix' });
app.synth();

// RelayTarget: what SesRelay.configure adds the bootstrap to, made from the EC2 types that carry
// user data and run as a role (an explicit type: Java, C# and Go cannot pass these structurally).
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';

/**
 * The user data SesRelay adds its bootstrap to and the principal that reads the credentials.
 *
 * @example
 * relay.configure(RelayTarget.fromInstance(instance));
 */
export class RelayTarget {
  /** An EC2 instance: its user data and its role. */
  static fromInstance(instance: ec2.Instance): RelayTarget {
    return new RelayTarget(instance.userData, instance, `the instance ${instance.node.path}`);
  }

  /** The instances of an Auto Scaling group made with user data (not with a launch template). */
  static fromAutoScalingGroup(group: autoscaling.AutoScalingGroup): RelayTarget {
    return new RelayTarget(
      group.userData,
      group,
      'the Auto Scaling group (one made with a launch template: use fromLaunchTemplate)',
    );
  }

  /** The instances a launch template launches: it needs `userData` and `role`. */
  static fromLaunchTemplate(template: ec2.LaunchTemplate): RelayTarget {
    return new RelayTarget(
      template.userData,
      template,
      `the launch template ${template.node.path} (give it a userData)`,
    );
  }

  /** Any user data, and the principal its instances run as. */
  static fromUserData(userData: ec2.UserData, grantee: iam.IGrantable): RelayTarget {
    return new RelayTarget(userData, grantee, 'the user data');
  }

  /** The user data the bootstrap is added to. */
  readonly userData: ec2.UserData;
  /** The principal the instances run as: it gets read access to the credentials. */
  readonly grantee: iam.IGrantable;

  private constructor(userData: ec2.UserData | undefined, grantee: iam.IGrantable, what: string) {
    if (!userData) throw new Error(`RelayTarget: ${what} has no user data`);
    this.userData = userData;
    this.grantee = grantee;
  }
}

import * as pulumi from '@pulumi/pulumi';
import * as docker from '@pulumi/docker';

export interface AppImageArgs {
  /** Repository root (Docker build context holding the Dockerfile). */
  context: string;
  /** Local image repository name, e.g. aidiary-staging. */
  repository: string;
}

/**
 * Builds the two images of a release from the repo's Dockerfile: `app` (Node server + CLI) and
 * `edge` (nginx with the static files). Containers use `repoDigest`, unique per build, so a new
 * build replaces the containers that run it and an unchanged build replaces nothing.
 */
export class AppImage extends pulumi.ComponentResource {
  readonly appImage: pulumi.Output<string>;
  readonly edgeImage: pulumi.Output<string>;

  constructor(name: string, args: AppImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:docker:AppImage', name, {}, opts);
    const build = (target: 'app' | 'edge') =>
      new docker.Image(`${name}-${target}`, {
        imageName: `${args.repository}-${target}:latest`,
        build: { context: args.context, dockerfile: `${args.context}/Dockerfile`, target },
        skipPush: true,
      }, { parent: this });
    this.appImage = build('app').repoDigest;
    this.edgeImage = build('edge').repoDigest;
    this.registerOutputs({ appImage: this.appImage, edgeImage: this.edgeImage });
  }
}

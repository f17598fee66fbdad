import type * as docker from '@pulumi/docker';

/**
 * Labels every container carries. App containers have generated names (create-before-delete
 * needs that), so drills and operators find them by label:
 * `docker ps --filter label=aidiary.stack=aidiary-staging --filter label=aidiary.instance=app-1`.
 */
export function containerLabels(stackName: string, role: string, instance: string): docker.types.input.ContainerLabel[] {
  return [
    { label: 'aidiary.stack', value: stackName },
    { label: 'aidiary.role', value: role },
    { label: 'aidiary.instance', value: instance },
  ];
}

